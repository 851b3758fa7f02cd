-- Argument checks of module functions, as the reference runtime makes them: a value of the wrong
-- type raises "bad argument #N to NAME (T expected, got U)" at the caller's line, while semantic
-- failures stay `nil, err` returns of the function itself.
local error, type, tostring, tonumber, getmetatable, rawget =
    error, type, tostring, tonumber, getmetatable, rawget
local str_format, pack, unpack = string.format, table.pack, table.unpack

local function typename(v)
    local mt = getmetatable(v)
    local name = type(mt) == "table" and rawget(mt, "__name")
    if type(name) == "string" and type(v) == "table" then return name end
    return type(v)
end

-- Raise "bad argument" at `level`, counted from the function that calls `fail` (1 = that
-- function, 2 = its caller, the default).
local function fail(i, name, message, level)
    error(str_format("bad argument #%d to %s (%s)", i, name, message), (level or 2) + 1)
end

-- A wrong type seen by a check: blame the caller of the checked function (check <- wrapper).
local function expected(i, name, what, v)
    fail(i, name, what .. " expected, got " .. typename(v), 4)
end

-- What getmetatable gives for an error value (nothing else has it).
local ERROR_MT = "error"  -- what getmetatable gives for error values

-- One check per spec letter; each returns the value the Python function receives.
local CHECKS = {
    -- CheckString: strings; numbers and error values (their message) convert to strings.
    s = function(v, i, name)
        local t = type(v)
        if t == "string" then return v end
        if t == "number" or getmetatable(v) == ERROR_MT then return tostring(v) end
        expected(i, name, "string", v)
    end,
    -- CheckInt / CheckNumber: numbers, and strings that read as numbers.
    n = function(v, i, name)
        if type(v) == "number" then return v end
        local number = type(v) == "string" and tonumber(v) or nil
        if number == nil then expected(i, name, "number", v) end
        return number
    end,
    -- CheckTable
    t = function(v, i, name)
        if type(v) ~= "table" then expected(i, name, "table", v) end
        return v
    end,
    -- OptString: nil or a string
    S = function(v, i, name)
        if v ~= nil and type(v) ~= "string" then expected(i, name, "string", v) end
        return v
    end,
    -- OptBool: nil or a boolean
    B = function(v, i, name)
        if v ~= nil and type(v) ~= "boolean" then expected(i, name, "boolean", v) end
        return v
    end,
    -- anything
    ["."] = function(v) return v end,
}

-- `fn` behind the checks of `spec` (one letter per leading argument); further arguments pass
-- through unchecked.
local function checked(name, spec, fn)
    local checks, n = {}, #spec
    for i = 1, n do checks[i] = CHECKS[spec:sub(i, i)] end
    return function(...)
        local args = pack(...)
        for i = 1, n do args[i] = checks[i](args[i], i, name) end
        local count = args.n > n and args.n or n
        return fn(unpack(args, 1, count))
    end
end

return { checked = checked, check = CHECKS, fail = fail, typename = typename }
