-- The activity of app:trip.
local function book(id)
    return "booked-" .. tostring(id)
end

return { book = book }
