-- Wippy's run-time type values (WIPPY-LUA 3): what `type` statements evaluate to once the
-- dialect front end has rewritten them into calls on this library. A type value validates
-- (`T(v)`, `T:is(v)`), reflects (`T:kind()`, `T:fields()`...), compares (`==`, `<=`, `<`) and
-- prints (`tostring(T)`). Loaded once per Lua state by the prelude's __wippy_types(), which
-- hands over the privileged pieces below.
local host = ...
local TYPE = host.mt
local raw_type, pcall, rawlen, sorted_keys = host.type, host.pcall, host.rawlen, host.sorted_keys
local re_search, invalid, go_float, go_tostring =
    host.re_search, host.invalid, host.go_float, host.go_tostring
local string_lib = host.string
local getmetatable, setmetatable, rawget, rawset, rawequal, select, error, tostring, ipairs, next =
    getmetatable, setmetatable, rawget, rawset, rawequal, select, error, tostring, ipairs, next
local math_floor, math_type, math_tointeger = math.floor, math.type, math.tointeger
local concat, unpack = table.concat, table.unpack

local MAX_DEPTH = 64

-- A type value is a table with TYPE as metatable. Its data sits in integer slots, so no string
-- key (a record field or a method name, both looked up through __index) is ever shadowed.
local TAG, NAME = 1, 2
-- slot 3, by tag
local INNER, ELEM, KEY, MEMBERS, FIELDS, PARAMS, VALUE, TPARAMS, GENERIC, REF_NAME =
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3
-- slot 4
local VAL, VALIDATORS, RESULTS, BODY, ARGS, THUNK = 4, 4, 4, 4, 4, 4
-- slot 5
local READONLY, VARIADIC, CONSTRAINTS, EXPANSION = 5, 5, 5, 5

local function node(tag, a, b, c)
    return setmetatable({ tag, nil, a, b, c }, TYPE)
end

-- A copy of t under another name (nil: unnamed).
local function named(name, t)
    return setmetatable({ t[TAG], name, t[3], t[4], t[5] }, TYPE)
end

local lib = {}   -- the library: singletons here, constructors at the end

local function primitive(tag)
    local t = node(tag)
    t[NAME] = tag
    return t
end

lib.nil_ = primitive("nil")
for _, tag in ipairs({ "boolean", "number", "integer", "string", "any", "unknown", "never",
                       "table" }) do
    lib[tag] = primitive(tag)
end
local NIL, STRING = lib.nil_, lib.string

local function is_type(v)
    return raw_type(v) == "table" and getmetatable(v) == TYPE
end

-- The Lua type name Wippy reports in messages: "type" for type values.
local function type_name(v)
    if is_type(v) then return "type" end
    return raw_type(v)
end

local function is_table(v)
    return raw_type(v) == "table" and getmetatable(v) ~= TYPE
end

---------------------------------------------------------------------------------------------------
-- References. `ref` thunks are called whenever the type is used, so forward, recursive and
-- cross-module references work; a thunk that fails or gives no type value leaves it unresolved.

-- T with its references followed; nil when a reference does not resolve (then also its name).
local function resolve(t)
    for _ = 1, 128 do
        if t[TAG] ~= "ref" then return t end
        local ok, target = pcall(t[THUNK])
        if not ok or not is_type(target) then return nil, t[REF_NAME] end
        t = target
    end
    return nil, t[REF_NAME]
end

-- The generic body of an instantiation with its arguments substituted (cached), or nil.
local function expand(t)
    local cached = t[EXPANSION]
    if cached ~= nil then return cached end
    local g = resolve(t[GENERIC])
    local args = t[ARGS]
    if g == nil or g[TAG] ~= "generic" or #args ~= #g[TPARAMS] then return nil end
    local body = g[BODY](unpack(args))
    t[EXPANSION] = body
    return body
end

---------------------------------------------------------------------------------------------------
-- Type text (go-lua's typ String forms): `{x: number, y?: string}`, `number[]`, `A | B`, `T?`,
-- `fun(number) -> boolean`, `Box<string>`, `string @min_len(3)`, `"admin"`.

-- Go's strconv.Quote, for string literal types.
local QUOTE = { ['"'] = '\\"', ["\\"] = "\\\\", ["\a"] = "\\a", ["\b"] = "\\b", ["\f"] = "\\f",
                ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\v"] = "\\v" }

local function go_quote(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        return QUOTE[c] or ("\\x%02x"):format(c:byte())
    end) .. '"'
end

local function validator_arg_text(arg)
    if raw_type(arg) == "string" then return '"' .. arg .. '"' end
    if math_type(arg) == "integer" then return ("%d"):format(arg) end
    if math_type(arg) == "float" then
        local i = math_tointeger(arg)
        if i ~= nil then return ("%d"):format(i) end
        return go_float(arg, true)
    end
    return "..."
end

local text

-- How a type reads inside another: its name when it has one.
local function show(t)
    return t[NAME] or text(t)
end

local function list_text(types, sep)
    local parts = {}
    for i, t in ipairs(types) do parts[i] = show(t) end
    return concat(parts, sep)
end

local TEXT = {
    literal = function(t)
        local v = t[VALUE]
        if raw_type(v) == "string" then return go_quote(v) end
        if math_type(v) == "float" then return go_float(v, false) end
        return tostring(v)
    end,
    optional = function(t) return show(t[INNER]) .. "?" end,
    union = function(t) return list_text(t[MEMBERS], " | ") end,
    intersection = function(t) return list_text(t[MEMBERS], " & ") end,
    tuple = function(t) return "(" .. list_text(t[MEMBERS], ", ") .. ")" end,
    array = function(t) return show(t[ELEM]) .. "[]" end,
    map = function(t) return "{[" .. show(t[KEY]) .. "]: " .. show(t[VAL]) .. "}" end,
    record = function(t)
        local parts, prefix = {}, t[READONLY] and "readonly " or ""
        for i, f in ipairs(t[FIELDS]) do
            parts[i] = prefix .. f[1] .. (f[3] and "?: " or ": ") .. show(f[2])
        end
        return "{" .. concat(parts, ", ") .. "}"
    end,
    ["function"] = function(t)
        local params = list_text(t[PARAMS], ", ")
        if t[VARIADIC] ~= nil then
            params = params .. (params ~= "" and ", ..." or "...") .. show(t[VARIADIC])
        end
        local s, results = "fun(" .. params .. ")", t[RESULTS]
        if #results == 1 then return s .. " -> " .. show(results[1]) end
        if #results > 1 then return s .. " -> (" .. list_text(results, ", ") .. ")" end
        return s
    end,
    annotated = function(t)
        local parts = { show(t[INNER]) }
        for _, v in ipairs(t[VALIDATORS]) do
            local arg = v[2]
            local args = arg ~= nil and ("(" .. validator_arg_text(arg) .. ")") or ""
            parts[#parts + 1] = "@" .. v[1] .. args
        end
        return concat(parts, " ")
    end,
    generic = function(t)
        local parts = {}
        for i, p in ipairs(t[TPARAMS]) do
            local c = t[CONSTRAINTS] and t[CONSTRAINTS][p]
            parts[i] = c and (p .. " : " .. show(c)) or p
        end
        return (t[NAME] or "generic") .. "<" .. concat(parts, ", ") .. ">"
    end,
    instantiated = function(t)
        local g = t[GENERIC]
        local gname = g[NAME] or (g[TAG] == "ref" and g[REF_NAME]) or "inst"
        return gname .. "<" .. list_text(t[ARGS], ", ") .. ">"
    end,
    ref = function(t) return t[REF_NAME] end,
}

-- The structure of a type, ignoring its own name (primitives read as their tag).
text = function(t)
    local f = TEXT[t[TAG]]
    if f == nil then return t[TAG] end
    return f(t)
end

---------------------------------------------------------------------------------------------------
-- Validation (go-lua ltype.go validateWithError). A failure is a table: the message without its
-- path, the details, and the path segments collected innermost first while the failure unwinds
-- (so a successful check builds no path strings).

local function failure(message, expected, got, constraint)
    return { message = message, expected = expected, got = got, constraint = constraint }
end

local function mismatch(expected, v)
    local got = type_name(v)
    return failure("expected " .. expected .. ", got " .. got, expected, got)
end

-- Prepend one path segment: a record field (`name`, or `.name` below the root) or a literal
-- fragment (`[2]`, `.key`, `[key]`).
local function under(err, segment, is_field)
    local n = #err + 1
    err[n] = segment
    err[-n] = is_field
    return err
end

local function path_of(err)
    local path = ""
    for i = #err, 1, -1 do
        if err[-i] and path ~= "" then
            path = path .. "." .. err[i]
        else
            path = path .. err[i]
        end
    end
    return path
end

-- Validators (go-lua validate/*.go): nil when v passes, else (message, constraint, got, expected).
local function length(v)
    if raw_type(v) == "string" then return #v end
    if is_table(v) then return rawlen(v) end
    return nil
end

local function as_number(arg)
    if raw_type(arg) == "number" then return arg end
    return 0
end

-- Go's int(arg) for length limits.
local function as_length(arg)
    local n = as_number(arg)
    if n >= 0 then return math_floor(n) end
    return n
end

local VALIDATORS_BY_NAME = {
    min = function(v, arg)
        if raw_type(v) == "number" and v < as_number(arg) then
            return "value below minimum", "min", go_tostring(v), go_tostring(arg)
        end
    end,
    max = function(v, arg)
        if raw_type(v) == "number" and v > as_number(arg) then
            return "value above maximum", "max", go_tostring(v), go_tostring(arg)
        end
    end,
    min_len = function(v, arg)
        local n, limit = length(v), as_length(arg)
        if n ~= nil and limit >= 0 and n < limit then
            return "length below minimum", "min_len", go_tostring(v), go_tostring(arg)
        end
    end,
    max_len = function(v, arg)
        local n, limit = length(v), as_length(arg)
        if n ~= nil and limit >= 0 and n > limit then
            return "length above maximum", "max_len", go_tostring(v), go_tostring(arg)
        end
    end,
    pattern = function(v, arg)
        if raw_type(v) ~= "string" then return nil end
        if raw_type(arg) ~= "string" then return "invalid pattern argument", "pattern" end
        local found = re_search(arg, v)
        if found == nil then return "invalid regex", "pattern" end
        if not found then return "pattern mismatch", "pattern", v, arg end
    end,
}

local check

local PRIMITIVE = {
    ["nil"] = function(v) return v == nil end,
    boolean = function(v) return raw_type(v) == "boolean" end,
    number = function(v) return raw_type(v) == "number" end,
    integer = function(v) return raw_type(v) == "number" and math_tointeger(v) ~= nil end,
    string = function(v) return raw_type(v) == "string" end,
    any = function() return true end,
    unknown = function() return true end,
    never = function() return false end,
    table = is_table,
}

-- t resolved, without its validators: what kind and comparisons look at.
local function strip(t)
    t = resolve(t)
    while t ~= nil and t[TAG] == "annotated" do t = resolve(t[INNER]) end
    return t
end

local CHECK = {
    literal = function(t, v)
        local lit = t[VALUE]
        local ok
        if math_type(lit) == "float" then
            ok = math_type(v) == "float" and v == lit
        elseif math_type(lit) == "integer" then
            ok = raw_type(v) == "number" and v == lit
        else
            ok = v == lit
        end
        if not ok then return mismatch(text(t), v) end
    end,
    optional = function(t, v, depth)
        if v ~= nil then return check(t[INNER], v, depth + 1) end
    end,
    union = function(t, v, depth)
        for _, m in ipairs(t[MEMBERS]) do
            if check(m, v, depth + 1) == nil then return nil end
        end
        return mismatch(text(t), v)
    end,
    intersection = function(t, v, depth)
        for _, m in ipairs(t[MEMBERS]) do
            local err = check(m, v, depth + 1)
            if err ~= nil then return err end
        end
    end,
    tuple = function(t, v, depth)
        if not is_table(v) then return mismatch(text(t), v) end
        for i, m in ipairs(t[MEMBERS]) do
            local err = check(m, rawget(v, i), depth + 1)
            if err ~= nil then return under(err, "[" .. i .. "]", false) end
        end
    end,
    array = function(t, v, depth)
        if not is_table(v) then return mismatch(text(t), v) end
        local elem = t[ELEM]
        for i = 1, rawlen(v) do
            local e = rawget(v, i)
            if e ~= nil then
                local err = check(elem, e, depth + 1)
                if err ~= nil then return under(err, "[" .. i .. "]", false) end
            end
        end
    end,
    -- Non-string keys outside the array part are checked against K; string-keyed values only
    -- when K is string; array-part values only when K is number, integer or any.
    map = function(t, v, depth)
        if not is_table(v) then return mismatch(text(t), v) end
        local k_type, v_type = t[KEY], t[VAL]
        local stripped = strip(k_type)
        local kind = stripped and stripped[TAG]
        local n = rawlen(v)
        for _, k in ipairs(sorted_keys(v)) do
            local item = rawget(v, k)
            local err
            if math_type(k) == "integer" and k >= 1 and k <= n then
                if kind == "number" or kind == "integer" or kind == "any" then
                    err = check(v_type, item, depth + 1)
                    if err ~= nil then return under(err, "[" .. k .. "]", false) end
                end
            elseif raw_type(k) == "string" then
                if kind == "string" then
                    err = check(v_type, item, depth + 1)
                    if err ~= nil then return under(err, "." .. k, false) end
                end
            else
                if check(k_type, k, depth + 1) ~= nil then
                    return under(mismatch(show(k_type), k), "[key]", false)
                end
                err = check(v_type, item, depth + 1)
                if err ~= nil then return under(err, "[" .. go_tostring(k) .. "]", false) end
            end
        end
    end,
    -- Fields are read raw (no __index). A missing field is an error unless it is optional or its
    -- type accepts nil.
    record = function(t, v, depth)
        if not is_table(v) then return mismatch(text(t), v) end
        for _, f in ipairs(t[FIELDS]) do
            local name, field_type = f[1], f[2]
            local value = rawget(v, name)
            if value ~= nil or not f[3] then
                local err = check(field_type, value, depth + 1)
                if err ~= nil and value == nil then
                    err = failure("required field missing", show(field_type), "nil")
                end
                if err ~= nil then return under(err, name, true) end
            end
        end
    end,
    ["function"] = function(_, v)
        if raw_type(v) ~= "function" then return mismatch("function", v) end
    end,
    annotated = function(t, v, depth)
        local err = check(t[INNER], v, depth + 1)
        if err ~= nil then return err end
        for _, spec in ipairs(t[VALIDATORS]) do
            local validate = VALIDATORS_BY_NAME[spec[1]]
            if validate ~= nil then
                local message, constraint, got, expected = validate(v, spec[2])
                if message ~= nil then return failure(message, expected, got, constraint) end
            end
        end
    end,
    generic = function(t, v) return mismatch(text(t), v) end,
    instantiated = function(t, v, depth)
        local body = expand(t)
        if body == nil then return mismatch(text(t), v) end
        return check(body, v, depth + 1)
    end,
}

-- nil when v is a value of type t, else a failure.
check = function(t, v, depth)
    if depth > MAX_DEPTH then
        return failure("expected type, got recursion limit exceeded", "type",
                       "recursion limit exceeded")
    end
    local resolved, unresolved = resolve(t)
    if resolved == nil then
        return failure("unresolved type " .. unresolved, unresolved)
    end
    local tag = resolved[TAG]
    local primitive = PRIMITIVE[tag]
    if primitive ~= nil then
        if primitive(v) then return nil end
        return mismatch(tag, v)
    end
    return CHECK[tag](resolved, v, depth)
end

local function validation_error(err)
    local field = path_of(err)
    local message = err.message
    if field ~= "" then message = field .. ": " .. message end
    local details = {}
    if field ~= "" then details.field = field end
    if err.expected ~= nil and err.expected ~= "" then details.expected = err.expected end
    if err.got ~= nil and err.got ~= "" then details.got = err.got end
    if err.constraint ~= nil then details.constraint = err.constraint end
    return invalid(message, details)
end

---------------------------------------------------------------------------------------------------
-- Comparisons: `==` is structural, `<=` and `<` are (strict) subtyping. Names do not matter.

local equal

local function all_equal(a, b, depth)
    if #a ~= #b then return false end
    for i = 1, #a do
        if not equal(a[i], b[i], depth + 1) then return false end
    end
    return true
end

local function find_field(fields, name)
    for _, f in ipairs(fields) do
        if f[1] == name then return f end
    end
    return nil
end

local EQUAL = {
    literal = function(a, b)
        return math_type(a[VALUE]) == math_type(b[VALUE]) and a[VALUE] == b[VALUE]
    end,
    optional = function(a, b, depth) return equal(a[INNER], b[INNER], depth + 1) end,
    union = function(a, b, depth) return all_equal(a[MEMBERS], b[MEMBERS], depth) end,
    intersection = function(a, b, depth) return all_equal(a[MEMBERS], b[MEMBERS], depth) end,
    tuple = function(a, b, depth) return all_equal(a[MEMBERS], b[MEMBERS], depth) end,
    array = function(a, b, depth) return equal(a[ELEM], b[ELEM], depth + 1) end,
    map = function(a, b, depth)
        return equal(a[KEY], b[KEY], depth + 1) and equal(a[VAL], b[VAL], depth + 1)
    end,
    record = function(a, b, depth)
        if #a[FIELDS] ~= #b[FIELDS] then return false end
        for _, fa in ipairs(a[FIELDS]) do
            local fb = find_field(b[FIELDS], fa[1])
            if fb == nil or (not fa[3]) ~= (not fb[3]) or not equal(fa[2], fb[2], depth + 1) then
                return false
            end
        end
        return true
    end,
    ["function"] = function(a, b, depth)
        if (a[VARIADIC] == nil) ~= (b[VARIADIC] == nil) then return false end
        if a[VARIADIC] ~= nil and not equal(a[VARIADIC], b[VARIADIC], depth + 1) then
            return false
        end
        return all_equal(a[PARAMS], b[PARAMS], depth) and all_equal(a[RESULTS], b[RESULTS], depth)
    end,
    annotated = function(a, b, depth)
        if #a[VALIDATORS] ~= #b[VALIDATORS] then return false end
        for i, v in ipairs(a[VALIDATORS]) do
            if v[1] ~= b[VALIDATORS][i][1] then return false end
        end
        return equal(a[INNER], b[INNER], depth + 1)
    end,
    generic = function() return false end,  -- only the same generic (caught by rawequal)
    instantiated = function(a, b, depth)
        return equal(a[GENERIC], b[GENERIC], depth + 1) and all_equal(a[ARGS], b[ARGS], depth)
    end,
}

equal = function(a, b, depth)
    if rawequal(a, b) then return true end
    if depth > MAX_DEPTH then return false end
    a, b = resolve(a), resolve(b)
    if a == nil or b == nil then return false end
    if rawequal(a, b) then return true end
    local tag = a[TAG]
    if tag ~= b[TAG] then return false end
    local f = EQUAL[tag]
    return f == nil or f(a, b, depth)
end

local subtype

-- a <= some/every member of list; some/every member of list <= b.
local function some_super(a, list, depth)
    for _, m in ipairs(list) do
        if subtype(a, m, depth + 1) then return true end
    end
    return false
end

local function every_super(a, list, depth)
    for _, m in ipairs(list) do
        if not subtype(a, m, depth + 1) then return false end
    end
    return true
end

local function some_sub(list, b, depth)
    for _, m in ipairs(list) do
        if subtype(m, b, depth + 1) then return true end
    end
    return false
end

local function every_sub(list, b, depth)
    for _, m in ipairs(list) do
        if not subtype(m, b, depth + 1) then return false end
    end
    return true
end

local function records_sub(a, b, depth)
    for _, fb in ipairs(b[FIELDS]) do
        local fa = find_field(a[FIELDS], fb[1])
        if fa == nil then
            if not fb[3] then return false end
        elseif (fa[3] and not fb[3]) or not subtype(fa[2], fb[2], depth + 1) then
            return false
        end
    end
    return true
end

local function functions_sub(a, b, depth)
    local pa, pb, ra, rb = a[PARAMS], b[PARAMS], a[RESULTS], b[RESULTS]
    if #pa ~= #pb or #ra ~= #rb then return false end
    for i = 1, #pa do
        if not subtype(pb[i], pa[i], depth + 1) then return false end
    end
    for i = 1, #ra do
        if not subtype(ra[i], rb[i], depth + 1) then return false end
    end
    return true
end

local LITERAL_BASE = { string = "string", boolean = "boolean" }
local TABLE_LIKE = { array = true, map = true, record = true, tuple = true, table = true }

-- Is every value of a also a value of b? (Validators are not compared.)
subtype = function(a, b, depth)
    if depth > MAX_DEPTH then return false end
    a, b = strip(a), strip(b)
    if a == nil or b == nil then return false end
    local ta, tb = a[TAG], b[TAG]
    if ta == "instantiated" then
        local body = expand(a)
        return body ~= nil and subtype(body, b, depth + 1)
    end
    if tb == "instantiated" then
        local body = expand(b)
        return body ~= nil and subtype(a, body, depth + 1)
    end
    if ta == "never" or tb == "any" or tb == "unknown" or equal(a, b, depth) then return true end
    if ta == "union" then return every_sub(a[MEMBERS], b, depth) end
    if ta == "optional" then
        return subtype(a[INNER], b, depth + 1) and subtype(NIL, b, depth + 1)
    end
    if tb == "intersection" then return every_super(a, b[MEMBERS], depth) end
    if tb == "union" then return some_super(a, b[MEMBERS], depth) end
    if tb == "optional" then return ta == "nil" or subtype(a, b[INNER], depth + 1) end
    if ta == "intersection" then return some_sub(a[MEMBERS], b, depth) end
    if ta == "integer" then return tb == "number" end
    if ta == "literal" then
        local v = a[VALUE]
        if math_type(v) == "integer" then return tb == "integer" or tb == "number" end
        if math_type(v) == "float" then return tb == "number" end
        return tb == LITERAL_BASE[raw_type(v)]
    end
    if tb == "table" then return TABLE_LIKE[ta] == true end
    if ta ~= tb then return false end
    if ta == "array" then return subtype(a[ELEM], b[ELEM], depth + 1) end
    if ta == "map" then
        return subtype(a[KEY], b[KEY], depth + 1) and subtype(a[VAL], b[VAL], depth + 1)
    end
    if ta == "record" then return records_sub(a, b, depth) end
    if ta == "tuple" then
        local ma, mb = a[MEMBERS], b[MEMBERS]
        if #ma ~= #mb then return false end
        for i = 1, #ma do
            if not subtype(ma[i], mb[i], depth + 1) then return false end
        end
        return true
    end
    if ta == "function" then return functions_sub(a, b, depth) end
    return false
end

---------------------------------------------------------------------------------------------------
-- Reflection (go-lua typeGetField / typeMethod*). Types handed out by reflection are unnamed,
-- as in go-lua (`Point.x:name()` is nil).

local function unnamed(t)
    if t[NAME] == nil then return t end
    return named(nil, t)
end

local function iterate(list, each)
    local i = 0
    return function()
        i = i + 1
        local item = list[i]
        if item == nil then return nil end
        return each(item)
    end
end

local KIND = {
    ["nil"] = "nil", boolean = "boolean", number = "number", integer = "integer",
    string = "string", any = "any", unknown = "unknown", never = "never", optional = "optional",
    union = "union", intersection = "intersection", tuple = "tuple", ["function"] = "function",
    array = "array", map = "map", record = "record", generic = "generic",
    instantiated = "instantiated",
}

-- The resolved type if it has the given tag.
local function as(t, tag)
    t = resolve(t)
    if t ~= nil and t[TAG] == tag then return t end
    return nil
end

local METHODS = {
    -- T:is(v) and T.is(v): the value is argument 2 when there are two or more.
    is = function(t, ...)
        local v
        if select("#", ...) >= 2 then v = (select(2, ...)) else v = (...) end
        local err = check(t, v, 0)
        if err == nil then return v, nil end
        return nil, validation_error(err)
    end,
    kind = function(t)
        local r = strip(t)
        return r and KIND[r[TAG]] or "unknown"
    end,
    name = function(t) return t[NAME] end,
    elem = function(t)
        local r = as(t, "array")
        return r and unnamed(r[ELEM])
    end,
    key = function(t)
        local r = as(t, "map")
        return r and unnamed(r[KEY])
    end,
    val = function(t)
        local r = as(t, "map")
        return r and unnamed(r[VAL])
    end,
    inner = function(t)
        local r = as(t, "optional")
        return r and unnamed(r[INNER])
    end,
    ret = function(t)
        local r = as(t, "function")
        if r == nil then return nil end
        local results = r[RESULTS]
        if #results == 1 then return unnamed(results[1]) end
        if #results > 1 then return node("tuple", results) end
        return nil
    end,
    fields = function(t)
        local r = as(t, "record")
        return r and iterate(r[FIELDS], function(f) return f[1], unnamed(f[2]) end)
    end,
    variants = function(t)
        local r = as(t, "union")
        return r and iterate(r[MEMBERS], unnamed)
    end,
    params = function(t)
        local r = as(t, "function")
        return r and iterate(r[PARAMS], unnamed)
    end,
    tparams = function(t)
        local r = as(t, "generic")
        if r == nil then return nil end
        local constraints = r[CONSTRAINTS] or {}
        return iterate(r[TPARAMS], function(p)
            local c = constraints[p]
            return p, c and unnamed(c)
        end)
    end,
}

-- Methods come first, then record fields, then (for the string type) the string library.
-- A method is bound to its type on first access and kept on it, so `T.is(v)` works too.
TYPE.__index = function(t, k)
    if raw_type(k) ~= "string" then return nil end  -- an empty slot
    local method = METHODS[k]
    if method ~= nil then
        local bound = function(...) return method(t, ...) end
        rawset(t, k, bound)
        return bound
    end
    local r = as(t, "record")
    if r ~= nil then
        local f = find_field(r[FIELDS], k)
        if f ~= nil then return unnamed(f[2]) end
    end
    if rawequal(t, STRING) then return string_lib[k] end
    return nil
end

TYPE.__tostring = function(t) return t[NAME] or text(t) end
TYPE.__eq = function(a, b) return is_type(a) and is_type(b) and equal(a, b, 0) end

local function comparable(a, b)
    if not (is_type(a) and is_type(b)) then
        error("attempt to compare " .. type_name(a) .. " with " .. type_name(b), 3)
    end
end

TYPE.__le = function(a, b)
    comparable(a, b)
    return subtype(a, b, 0)
end
TYPE.__lt = function(a, b)
    comparable(a, b)
    return subtype(a, b, 0) and not subtype(b, a, 0)
end

---------------------------------------------------------------------------------------------------
-- Calling a type (go-lua typeCall): T(v) validates and returns v itself; G(A, B) with only type
-- arguments instantiates a generic. Errors point at the caller's line.

local function call(t, ...)
    local n = select("#", ...)
    if n == 0 then error("type " .. tostring(t) .. " expects at least 1 argument", 2) end
    local types = 0
    for i = 1, n do
        if is_type((select(i, ...))) then types = types + 1 end
    end
    if types == n then
        local g = as(t, "generic")
        if g == nil then error("type " .. tostring(t) .. " is not generic", 2) end
        if n ~= #g[TPARAMS] then
            local message = "generic %s expects %d type arguments, got %d"
            error(message:format(tostring(t), #g[TPARAMS], n), 2)
        end
        return named(t[NAME], g[BODY](...))
    end
    if types ~= 0 then
        error("type " .. tostring(t) .. " does not accept mixed type/value arguments", 2)
    end
    if n ~= 1 then
        error(("type %s validation expects 1 value, got %d"):format(tostring(t), n), 2)
    end
    local v = ...
    if check(t, v, 0) ~= nil then
        error("expected " .. tostring(t) .. ", got " .. type_name(v), 2)
    end
    return v
end
TYPE.__call = call

---------------------------------------------------------------------------------------------------
-- Constructors, called by translated `type` statements.

-- A literal type; a float literal (1.0) stays a float and accepts only floats.
function lib.lit(v) return node("literal", v) end
function lib.opt(t) return node("optional", t) end
function lib.union(members) return node("union", members) end
function lib.inter(members) return node("intersection", members) end
function lib.array(elem, readonly) return node("array", elem, nil, readonly or nil) end
function lib.map(k, v, readonly) return node("map", k, v, readonly or nil) end
-- fields: {{"name", T}, {"name", T, true --[[optional]]}, ...}
function lib.record(fields, readonly) return node("record", fields, nil, readonly or nil) end
function lib.func(params, results, variadic)
    return node("function", params, results, variadic)
end
-- validators: {{"min", 0}, {"pattern", "^x"}, ...}
function lib.ann(t, validators) return node("annotated", t, validators) end
-- body(T, U) builds the type from its parameters; constraints: {U = C}.
function lib.generic(params, body, constraints)
    return node("generic", params, body, constraints)
end
function lib.ref(name, thunk) return node("ref", name, thunk) end
function lib.inst(g, args) return node("instantiated", g, args) end

-- A copy of t carrying a name (an alias of an alias takes the new name).
lib.named = named

-- The `string` library's metatable: `string(x)` casts, `string:is(x)` and the other methods
-- reach the string type, `string.upper` and friends are untouched (they are raw keys).
local string_methods = {}
for name in next, METHODS do string_methods[name] = STRING[name] end
local string_mt = {
    __call = function(_, ...) return call(STRING, ...) end,
    __index = string_methods,
}

return lib, string_mt
