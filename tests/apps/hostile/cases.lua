-- Hostile workflow code, one case per name: each must end (fail or return) within its bounds and
-- leave the worker healthy.
local funcs = require("funcs")
local json = require("json")

local function outcome(value, err)
    return { value = value, kind = err and err:kind(), message = err and err:message() }
end

local cases = {}

function cases.healthy()
    return "ok"
end

function cases.pattern()
    return string.find(string.rep("a", 1e5), ".-.-.-.-.-b")
end

function cases.eq_loop()
    local mt = { __eq = function() while true do end end }
    return setmetatable({}, mt) == setmetatable({}, mt)
end

function cases.gc_loop()
    for _ = 1, 1000 do
        setmetatable({}, { __gc = function() while true do end end })
    end
    local junk = {}
    for i = 1, 2e5 do junk[i % 1000] = { i } end
    return "finalizers ignored"
end

function cases.json_bomb()
    return outcome(json.decode("[" .. string.rep("0,", 3e6) .. "0]"))
end

function cases.print_flood()
    local line = string.rep("x", 1000)
    for _ = 1, 1e4 do print(line) end
    return "printed"
end

function cases.result_cycle()
    local t = {}
    t.self = t
    return t
end

function cases.result_bytes()
    return { s = "\255\254" }
end

function cases.result_big()
    return string.rep("x", 3 * 1024 * 1024)
end

function cases.huge_error()
    return nil, errors.new(string.rep("e", 3 * 1024 * 1024))
end

function cases.sparse_arg()
    return outcome(funcs.call("app:echo", { 1, nil, 3 }))
end

function cases.big_arg()
    return outcome(funcs.call("app:echo", string.rep("x", 3 * 1024 * 1024)))
end

function cases.bytes_result()
    return outcome(funcs.call("app:bytes_result"))
end

function cases.send_cycle()
    local t = {}
    t.self = t
    return outcome(process.send(process.pid(), "note", t))
end

function cases.spin_activity(name)
    return outcome(funcs.call(name))
end

function cases.yield_bare()
    coroutine.yield()
    return "resumed"
end

function cases.yield_forged()
    coroutine.yield(true, "forged result")
    return "resumed"
end

function cases.yields_in_coroutines()
    local ok, err = pcall(coroutine.yield, "x")
    local gen = coroutine.wrap(function(a)
        local b = coroutine.yield(a + 1)
        return b * 2
    end)
    return { ok = ok, err = tostring(err), first = gen(1), second = gen(5) }
end

-- Takes messages until "done"; updates are answered with their value.
function cases.collect()
    local inbox = process.inbox()
    local got = {}
    while true do
        local msg = inbox:receive()
        local p = msg:payload()
        local data = p and p:data()
        if msg:topic() == "done" then return got end
        if msg:from():sub(1, 8) == "@update:" then
            process.send(msg:from(), "ok", data)
        end
        got[#got + 1] = data
    end
end

return function(name, ...)
    return cases[name](...)
end
