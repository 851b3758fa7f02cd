-- Activities for the hostile-input cases.
local M = {}

function M.echo(...)
    return ...
end

function M.spin()
    while true do end
end

-- A result with a string that is not UTF-8 inside a table: it cannot be JSON.
function M.bytes_result()
    return { s = "\255\254" }
end

return M
