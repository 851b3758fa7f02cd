-- The string and table functions whose cost grows with their input, bounded (see the prelude):
-- patterns run in C when their worst case is cheap on the subject, else on the step-counted
-- matcher of luaflow/pattern.lua; rep, byte, unpack and move charge their C work; insert
-- and remove run in Lua over a custom length. The prelude passes its own helpers.
local C, load_own, spend, refuse_above_memory, fatal, user_error, arg_error, type_name,
      want_string, want_integer, int_type, raw_length, raw_getmetatable, pack, unpack,
      raw_pcall, raw_error, type, rawget, select, maxinteger = ...
local M = {}

local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"
local STEP_UNITS = 10       -- a matcher step is about ten nanoseconds of C
local PLAIN_LIMIT = 2e8     -- bytes compared by one plain find in C

local costs, patterns = nil, nil
local function pattern_cost()
    if costs == nil then costs = load_own("pattern_cost.lua")(C) end
    return costs
end
local function pattern_lib()
    if patterns == nil then patterns = load_own("pattern.lua")(C) end
    return patterns
end

local function run_bounded(name, ...)
    local results = pack(raw_pcall(pattern_lib()[name], ...))
    if results[1] then return unpack(results, 2, results.n) end
    local err = results[2]
    fatal(err)
    if type(err) == "table" and raw_getmetatable(err) == nil and rawget(err, "pattern_error") then
        user_error(err.pattern_error)
    end
    raw_error(err, 0)
end

local function optional_integer(v)
    return v == nil or int_type(v) == "integer"
end

M.find = function(s, p, init, plain)
    if type(s) == "string" and type(p) == "string" and optional_integer(init) then
        if plain or not C.find(p, SPECIALS) then
            local bytes = #s + #s * #p / 16
            if bytes <= PLAIN_LIMIT then
                spend(bytes)
                return C.find(s, p, init, plain)
            end
        else
            local steps = pattern_cost().cheap(p, #s, true)
            if steps then
                spend(steps * STEP_UNITS)
                return C.find(s, p, init, plain)
            end
        end
    end
    return run_bounded("find", want_string(s, 1, "find"), want_string(p, 2, "find"),
                       want_integer(init, 3, "find"), plain)
end

-- match and gmatch: the C function when the pattern is cheap on this subject, else bounded.
local function matcher(name, anchored)
    local c_fn = C[name]
    return function(s, p, init)
        if type(s) == "string" and type(p) == "string" and optional_integer(init) then
            local steps = pattern_cost().cheap(p, #s, anchored)
            if steps then
                spend(steps * STEP_UNITS)
                return c_fn(s, p, init)
            end
        end
        return run_bounded(name, want_string(s, 1, name), want_string(p, 2, name),
                           want_integer(init, 3, name))
    end
end
M.match = matcher("match", true)
M.gmatch = matcher("gmatch", false)

local REPLACEMENTS = { string = true, number = true, ["function"] = true, table = true }

M.gsub = function(s, p, repl, n)
    local kind = type(repl)
    if type(s) == "string" and type(p) == "string" and REPLACEMENTS[kind] and optional_integer(n) then
        local lib = pattern_cost()
        local steps = lib.cheap(p, #s, true, kind == "string" and repl or nil)
        if steps then
            spend(steps * STEP_UNITS)
            if kind == "function" or kind == "table" then repl = lib.checked(repl, kind, user_error) end
            return C.gsub(s, p, repl, n)
        end
    end
    s, p = want_string(s, 1, "gsub"), want_string(p, 2, "gsub")
    if not REPLACEMENTS[kind] then
        arg_error(3, "gsub", "string/function/table expected, got " .. type_name(repl))
    end
    return run_bounded("gsub", s, p, repl, want_integer(n, 4, "gsub"))
end

-- string.rep loops n times even over empty strings; large results are refused up front.
M.rep = function(s, n, sep)
    s, n = want_string(s, 1, "rep"), want_integer(n, 2, "rep")
    if n == nil then arg_error(2, "rep", "number expected, got no value") end
    if sep ~= nil then sep = want_string(sep, 3, "rep") end
    local width = #s + (sep and #sep or 0)
    if n <= 0 or width == 0 then return "" end
    local size = width * (n + 0.0)
    refuse_above_memory(size)
    spend(size)
    return C.rep(s, n, sep)
end

M.byte = function(s, i, j)
    if type(s) == "string" and (i == nil or int_type(i) == "integer")
        and (j == nil or int_type(j) == "integer") then
        local first, last = i or 1, j or i or 1
        if first < 0 then first = #s + first + 1 end
        if last < 0 then last = #s + last + 1 end
        if last - first > 64 then spend((last - first) * 4.0) end
    end
    return C.byte(s, i, j)
end

M.unpack = function(t, i, j)
    local first, last = int_type(i) == "integer" and i or 1, int_type(j) == "integer" and j or nil
    if last == nil and type(t) == "table" then last = raw_length(t) end
    if last ~= nil and last > first then spend((last - first) * 4.0) end
    return C.unpack(t, i, j)
end

-- table.move over a huge range never allocates: it runs in chunks the hook can interrupt.
local MOVE_CHUNK = 4096
M.move = function(a1, f, e, t, a2)
    f, e, t = want_integer(f, 2, "move"), want_integer(e, 3, "move"), want_integer(t, 4, "move")
    if f == nil or e == nil or t == nil or e < f or (e + 0.0) - f < MOVE_CHUNK then
        return C.move(a1, f, e, t, a2)
    end
    if not (f > 0 or e < maxinteger + f) then
        arg_error(3, "move", "too many elements to move")
    end
    local count = e - f + 1
    if t > maxinteger - count + 1 then arg_error(4, "move", "destination wrap around") end
    local dest = a2 == nil and a1 or a2
    if t > e or t <= f or (a2 ~= nil and not (a1 == a2)) then
        for offset = 0, count - 1, MOVE_CHUNK do
            local last = offset + MOVE_CHUNK - 1
            if last > count - 1 then last = count - 1 end
            C.move(a1, f + offset, f + last, t + offset, dest)
        end
    else
        for last = count - 1, 0, -MOVE_CHUNK do
            local offset = last - MOVE_CHUNK + 1
            if offset < 0 then offset = 0 end
            C.move(a1, f + offset, f + last, t + offset, dest)
        end
    end
    return dest
end

-- insert and remove shift every element up to #t: with a __len metamethod that length is
-- arbitrary, so they run in Lua (where the hook counts the shifting).
local function custom_length(t)
    local mt = raw_getmetatable(t)
    return type(mt) == "table" and rawget(mt, "__len") ~= nil
end

M.insert = function(t, ...)
    if not custom_length(t) then return C.insert(t, ...) end
    local count = select("#", ...)
    local e = #t + 1
    local pos, value = e, ...
    if count == 2 then
        pos, value = want_integer((...), 2, "insert"), select(2, ...)
        if pos < 1 or pos > e then arg_error(2, "insert", "position out of bounds") end
        for i = e, pos + 1, -1 do t[i] = t[i - 1] end
    elseif count ~= 1 then
        user_error("wrong number of arguments to 'insert'")
    end
    t[pos] = value
end

M.remove = function(t, pos)
    if not custom_length(t) then return C.remove(t, pos) end
    local size = #t
    pos = want_integer(pos, 2, "remove") or size
    if pos ~= size and (pos < 1 or pos > size + 1) then
        arg_error(2, "remove", "position out of bounds")
    end
    local value = t[pos]
    for i = pos, size - 1 do t[i] = t[i + 1] end
    t[pos > size and pos or size] = nil
    return value
end

return M
