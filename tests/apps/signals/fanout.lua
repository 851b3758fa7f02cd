-- 50 activities in parallel with funcs.async, then one cancelled while it runs.
local funcs = require("funcs")

return function(n)
    local futures = {}
    for i = 1, n do futures[i] = funcs.async("app:reserve", "f" .. i) end
    local results = {}
    for i, f in ipairs(futures) do
        results[i] = f:response():receive():data()
    end
    local slow = funcs.async("app:slow", 30)
    local cancelled = slow:cancel()
    local _, err = slow:result()
    while err == nil do
        slow:response():receive()
        _, err = slow:result()
    end
    return {count = #results, first = results[1], last = results[n], cancelled = cancelled,
            kind = err:kind()}
end
