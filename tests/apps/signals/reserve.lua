local function reserve(id)
    print("reserved " .. tostring(id))
    return "res-" .. tostring(id)
end
return { reserve = reserve }
