-- Sandbox prelude: runs once in every fresh Lua state before any user code.
-- It captures the few privileged functions the runtime needs, removes everything user code must
-- not reach (I/O, loading code, debug, the Python bridge), and installs the always-available
-- globals (errors, a deterministic-safe os, coroutine transparency, require).
local bridge = ...

local sethook, getinfo = debug.sethook, debug.getinfo
local raw_load = load
local co_create, co_resume, co_yield, co_status, co_wrap =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.status, coroutine.wrap
local raw_pcall, raw_xpcall, raw_error = pcall, xpcall, error
local os_date, os_clock, os_difftime, os_time = os.date, os.clock, os.difftime, os.time
local str_format = string.format
local pack, unpack = table.pack, table.unpack
local getmetatable, setmetatable, type, tostring, rawget, select =
    getmetatable, setmetatable, type, tostring, rawget, select

local rt = {}   -- runtime-private table handed back to Python

---------------------------------------------------------------------------------------------------
-- Instruction budget. The count hook is per coroutine, so every coroutine the runtime or the user
-- creates gets it. Once exhausted, the hook keeps firing on every instruction, and pcall/xpcall
-- re-raise, so user code cannot swallow the failure.
-- A wall-clock deadline backs the count: under CPU contention an activation must still end
-- well before the Temporal SDK's 2-second deadlock detector gives up on the thread.
local HOOK_EVERY = 10000
local BUDGET = setmetatable({}, { __tostring = function() return "instruction budget exceeded" end })
local budget_left = math.maxinteger
local deadline = math.huge
local monotonic = bridge.monotonic

local function hook()
    budget_left = budget_left - HOOK_EVERY
    if budget_left < 0 or monotonic() > deadline then
        budget_left = -1
        sethook(hook, "", 1)
        raw_error(BUDGET, 0)
    end
end

local function new_coroutine(fn)
    local co = co_create(fn)
    sethook(co, hook, "", HOOK_EVERY)
    return co
end

function rt.set_budget(n, seconds)
    budget_left = n
    deadline = monotonic() + seconds
end

function rt.is_budget(e)
    return e == BUDGET
end

-- Errors raised by Python module functions arrive as Python exceptions: user code sees them as
-- error objects (kind, message...) like any other.
local function rethrow_budget(ok, ...)
    if ok then return ok, ... end
    local err = ...
    if err == BUDGET then raw_error(BUDGET, 0) end
    if type(err) == "userdata" and not rt.is_error(err) then return false, bridge.lua_error(err) end
    return ok, ...
end

pcall = function(f, ...)
    return rethrow_budget(raw_pcall(f, ...))
end

xpcall = function(f, handler, ...)
    return rethrow_budget(raw_xpcall(f, function(e)
        if e == BUDGET then return e end
        return handler(e)
    end, ...))
end

-- assert puts the caller's `file:line:` in front of a message, as Wippy's does, so a failed test
-- says where; other error values pass unchanged.
assert = function(...)
    local v, message = ...
    if v then return ... end
    if select("#", ...) == 0 then raw_error("bad argument #1 to 'assert' (value expected)", 2) end
    if message == nil then raw_error("assertion failed!", 2) end
    if type(message) == "number" then message = tostring(message) end
    if type(message) == "string" then raw_error(message, 2) end
    raw_error(message, 0)
end

---------------------------------------------------------------------------------------------------
-- Coroutines. Runtime operations (activities, timers...) suspend the current *task* by yielding a
-- tagged request. When user code runs its own coroutines, a tagged yield from inside them is passed
-- up to the task and its answer passed back down, so runtime calls work at any nesting depth.
local AWAIT = setmetatable({}, { __tostring = function() return "luaflow.await" end })

function rt.await(request)
    return co_yield(AWAIT, request)
end

-- Wrap a Python function that builds a runtime request into a Lua function that waits for it.
-- The builder returns the request, or nil, err when the arguments are invalid.
-- The builder gets the user call site ("file.lua:12") first, for history metadata and errors.
local function site()
    for level = 3, 40 do
        local info = getinfo(level, "Sl")
        if info == nil then return "" end
        if info.what ~= "C" and info.source:sub(1, 9) ~= "@luaflow/" then
            return info.short_src .. ":" .. tostring(info.currentline)
        end
    end
    return ""
end

function rt.awaiting(build)
    return function(...)
        local req, err = build(site(), ...)
        if req == nil then return nil, err end
        return co_yield(AWAIT, req)
    end
end

-- Wrap a Python function into a Lua one that gets the user call site first (logger lines).
function rt.with_site(fn)
    return function(...) return fn(site(), ...) end
end

local function forward(co, ok, ...)
    if ok and (...) == AWAIT and co_status(co) == "suspended" then
        return forward(co, co_resume(co, co_yield(AWAIT, select(2, ...))))
    end
    return ok, ...
end

local coroutine_lib = {}
for k, v in pairs(coroutine) do coroutine_lib[k] = v end
coroutine_lib.create = new_coroutine
coroutine_lib.resume = function(co, ...)
    return forward(co, co_resume(co, ...))
end
coroutine_lib.wrap = function(fn)
    local co = new_coroutine(fn)
    return function(...)
        local res = pack(forward(co, co_resume(co, ...)))
        if not res[1] then raw_error(res[2], 0) end
        return unpack(res, 2, res.n)
    end
end
coroutine = coroutine_lib

-- A task is driven from Python through the coroutine.wrap closure returned here: Python calls it
-- to resume. (Resuming through a Lua function would leave values on the main state's stack that
-- lupa then mistakes for results of table reads done from Python callbacks.) Each resume returns
-- AWAIT, request when the task waits on the runtime; true, results... when it returned; false, err
-- when it raised.
function rt.new_task(fn, ...)
    local args = pack(...)
    local co = new_coroutine(function()
        return raw_pcall(fn, unpack(args, 1, args.n))
    end)
    return function(...)
        local res = pack(co_resume(co, ...))
        if not res[1] then return false, res[2] end  -- a budget error raised outside the pcall
        return unpack(res, 2, res.n)
    end
end

---------------------------------------------------------------------------------------------------
-- Errors (SPEC 2.8; Wippy's value semantics): error objects are userdata, as in Wippy, so that
-- `type(err)` is "userdata" and code like `type(err) == "table" and err.message or tostring(err)`
-- works. A full userdata can only come from the host: Python hands over a fresh object, whose
-- metatable is swapped for Error; the fields live in its user value. On collection Error.__gc puts
-- lupa's own metatable back and runs lupa's finalizer, so the Python side is released too.
local d_getmetatable, d_setmetatable = debug.getmetatable, debug.setmetatable
local d_getuservalue, d_setuservalue = debug.getuservalue, debug.setuservalue
local new_token = bridge.error_token
local TOKEN_MT = d_getmetatable(new_token())
local token_gc = rawget(TOKEN_MT, "__gc")

local Error = {}
Error.__index = Error
Error.__name = "error"
Error.__metatable = "error"
Error.__gc = function(u)
    d_setmetatable(u, TOKEN_MT)
    token_gc(u)
end

local KINDS = {
    UNKNOWN = "", INVALID = "Invalid", NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists",
    PERMISSION_DENIED = "PermissionDenied", TIMEOUT = "Timeout", CANCELED = "Canceled",
    UNAVAILABLE = "Unavailable", INTERNAL = "Internal", CONFLICT = "Conflict",
    RATE_LIMITED = "RateLimited",
}

local function is_error(v)
    return type(v) == "userdata" and d_getmetatable(v) == Error
end

local function fields(e)
    return d_getuservalue(e, 1)
end

-- Up to 12 Lua frames where the error was made (C frames and luaflow's own code skipped).
local function capture_frames(level)
    local frames = {}
    for lv = level, level + 40 do
        local info = getinfo(lv, "Sln")
        if info == nil or #frames >= 12 then break end
        if info.what ~= "C" and info.source:sub(1, 9) ~= "@luaflow/" then
            frames[#frames + 1] = {
                level = #frames + 1, source = info.short_src, line = info.currentline,
                name = info.name or "", type = info.what,
            }
        end
    end
    return frames
end

-- A copy of a details table: string keys at the top, nested tables copied, functions and other
-- host values dropped; an empty table is no details at all.
local function copy_value(v, depth)
    if type(v) ~= "table" or is_error(v) then
        local tv = type(v)
        if tv == "function" or tv == "thread" or (tv == "userdata" and not is_error(v)) then
            return nil
        end
        return v
    end
    if depth > 32 then return nil end
    local out = {}
    for k, item in pairs(v) do
        out[k] = copy_value(item, depth + 1)
    end
    return out
end

local function copy_details(d)
    if type(d) ~= "table" then return nil end
    local out, any = {}, false
    for k, v in pairs(d) do
        if type(k) == "string" then
            out[k] = copy_value(v, 1)
            any = true
        end
    end
    if not any then return nil end
    return out
end

-- message: what tostring gives; context: set by errors.wrap (Go's Error() is "context: message");
-- cause: the wrapped error, kept for the chain that crosses Temporal.
local function make_error(message, kind, retryable, details, cause, frames, context)
    local u = new_token()
    d_setmetatable(u, Error)
    d_setuservalue(u, {
        message = message, kind = kind or "", retryable = retryable, details = details,
        cause = cause, frames = frames or {}, context = context,
    }, 1)
    return u
end

-- Go's Error() text: the wrap context, then the message.
local function error_text(e)
    local f = fields(e)
    if f.context ~= nil and f.context ~= "" then return f.context .. ": " .. f.message end
    return f.message
end

local function self_fields(self, name)
    if not is_error(self) then
        raw_error("bad argument #1 to " .. name .. " (error expected, got " .. type(self) .. ")", 3)
    end
    return fields(self)
end

function Error:kind() return self_fields(self, "kind").kind end
function Error:message() return self_fields(self, "message").message end
function Error:retryable() return self_fields(self, "retryable").retryable end
function Error:details() return copy_details(self_fields(self, "details").details) end
function Error:cause() return self_fields(self, "cause").cause end
function Error:stack()
    local f = self_fields(self, "stack")
    local lines = { error_text(self) }
    for _, fr in ipairs(f.frames) do
        lines[#lines + 1] = "  " .. fr.source .. ":" .. tostring(fr.line) ..
            (fr.name ~= "" and (" (" .. fr.name .. ")") or "")
    end
    return table.concat(lines, "\n")
end
Error.__tostring = function(self) return fields(self).message end
Error.__concat = function(a, b)
    local sa = is_error(a) and fields(a).message or tostring(a)
    local sb = is_error(b) and fields(b).message or tostring(b)
    return sa .. sb
end

local errors_impl = {}
for k, v in pairs(KINDS) do errors_impl[k] = v end

function errors_impl.new(spec)
    if type(spec) == "string" then
        return make_error(spec, "", nil, nil, nil, capture_frames(3))
    end
    if type(spec) ~= "table" then
        raw_error("bad argument #1 to new (expected string or table)", 2)
    end
    local message = rawget(spec, "message")
    if message == nil then raw_error("bad argument #1 to new (message field is required)", 2) end
    if type(message) ~= "string" then
        raw_error("bad argument #1 to new (message must be a string)", 2)
    end
    local kind = rawget(spec, "kind")
    local retryable = rawget(spec, "retryable")
    if type(retryable) ~= "boolean" then retryable = nil end
    return make_error(
        message,
        type(kind) == "string" and kind or "",
        retryable,
        copy_details(rawget(spec, "details")),
        nil,
        capture_frames(3)
    )
end

function errors_impl.wrap(parent, context)
    if type(parent) == "string" then
        parent = make_error(parent, "", nil, nil, nil, capture_frames(3))
    elseif not is_error(parent) then
        raw_error("bad argument #1 to wrap (expected string or error object)", 2)
    end
    if is_error(context) then
        context = fields(context).message
    elseif type(context) ~= "string" then
        raw_error("bad argument #2 to wrap (expected string or error object)", 2)
    end
    local p = fields(parent)
    return make_error(error_text(parent), p.kind, p.retryable, p.details, parent,
                      capture_frames(3), context)
end

function errors_impl.is(err, kind)
    if type(kind) ~= "string" then
        raw_error("bad argument #2 to is (string expected, got " .. type(kind) .. ")", 2)
    end
    if not is_error(err) then return false end
    return fields(err).kind == kind
end

function errors_impl.call_stack(err)
    if not is_error(err) then return nil end
    local frames = fields(err).frames
    if #frames == 0 then return nil end
    local out = {}
    for i, fr in ipairs(frames) do
        out[i] = { level = fr.level, source = fr.source, line = fr.line, name = fr.name,
                   type = fr.type }
    end
    return { thread = "main", frames = out }
end

-- The module table is read-only, as in Wippy.
errors = setmetatable({}, {
    __index = errors_impl,
    __newindex = function() raw_error("errors module is read-only", 2) end,
    __pairs = function() return next, errors_impl, nil end,
    __metatable = false,
})

-- String functions accept error values where Wippy's do (its strings checks take an error's
-- message): `string.find(err, "not found")`.
for _, name in ipairs({ "byte", "find", "gmatch", "gsub", "len", "lower", "match", "rep",
                        "reverse", "sub", "upper" }) do
    local fn = string[name]
    string[name] = function(s, ...)
        if type(s) == "userdata" and d_getmetatable(s) == Error then s = fields(s).message end
        return fn(s, ...)
    end
end

rt.is_error = is_error
rt.make_error = make_error

-- Python-side reading of an error without reaching into its fields by name: the outermost
-- message (the wrap context for wrapped errors) and the cause carry the Go Error() text.
function rt.error_fields(e)
    local f = fields(e)
    if f.context ~= nil and f.context ~= "" then
        return f.context, f.kind, f.retryable, f.details, f.cause
    end
    return f.message, f.kind, f.retryable, f.details, f.cause
end

---------------------------------------------------------------------------------------------------
-- os: only the time functions; time and date read from the bridge so that workflows see
-- workflow time (SPEC R7).
os = {
    time = function(t)
        if t ~= nil then return os_time(t) end
        return bridge.now_seconds()
    end,
    date = function(fmt, t)
        return os_date(fmt, t or bridge.now_seconds())
    end,
    clock = os_clock,
    difftime = os_difftime,
    platform = "wippy",
}

---------------------------------------------------------------------------------------------------
-- Compile a named text chunk (never bytecode) with the sandbox's globals.
function rt.load(source, chunkname)
    return raw_load(source, chunkname, "t")
end

-- require: only modules the entry lists (SPEC 1.6). Loaders run once and are cached.
function rt.install_require(loaders, describe)
    local loaded = {}
    require = function(name)
        if type(name) ~= "string" then raw_error("require expects a module name", 2) end
        local m = loaded[name]
        if m ~= nil then return m end
        local loader = loaders[name]
        if loader == nil then raw_error(describe(name), 2) end
        m = loader()
        loaded[name] = m
        return m
    end
end

-- pairs() in a fixed order (R23): Lua 5.4 seeds string hashes per process, so raw `next` order
-- can differ between the worker that ran a workflow and the one replaying it. Keys are visited
-- sorted: numbers, then strings, then booleans, then other keys (by tostring).
local raw_next, rawget, table_sort = next, rawget, table.sort
local RANK = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
    local ra, rb = RANK[type(a)] or 4, RANK[type(b)] or 4
    if ra ~= rb then return ra < rb end
    if ra <= 2 then return a < b end
    if ra == 3 then return (not a) and b end
    return tostring(a) < tostring(b)
end

pairs = function(t)
    local mt = getmetatable(t)
    if mt ~= nil and type(mt) == "table" and rawget(mt, "__pairs") ~= nil then
        return mt.__pairs(t)
    end
    local keys, n = {}, 0
    for k in raw_next, t do
        n = n + 1
        keys[n] = k
    end
    table_sort(keys, key_less)
    local i = 0
    return function()
        while true do
            i = i + 1
            local k = keys[i]
            if k == nil then return nil end
            local v = rawget(t, k)
            if v ~= nil then return k, v end
        end
    end, t, nil
end

-- print goes through the runtime: workflows stay quiet while replaying.
print = function(...)
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do parts[i] = tostring((select(i, ...))) end
    bridge.print(table.concat(parts, "\t"))
end

-- Identity of a table for cycle detection in value conversion.
function rt.ptr(t)
    return str_format("%p", t)
end

-- Tables with an `__opaque` metatable (time objects...) have no JSON form (B2).
function rt.identity(...)
    return ...
end

function rt.index(t, k)
    return t[k]
end

function rt.is_opaque(t)
    local mt = getmetatable(t)
    return mt ~= nil and rawget(mt, "__opaque") == true
end

rt.pack = pack

-- Drop every global and runtime table so that, once Python lets go of its Lua objects, a full
-- collection frees all Lua-held Python objects (see LuaState.close).
function rt.teardown()
    local globals = _G
    for k in raw_next, globals do globals[k] = nil end
    for k in raw_next, rt do rt[k] = nil end
end

---------------------------------------------------------------------------------------------------
-- Wippy's base language (WIPPY-LUA 1.3): Lua 5.1 names Wippy keeps, Go's number formatting, and
-- the run-time type library behind `type` statements, `string(x)` and `T:is(v)`.
local math_type, math_exp, math_abs, math_floor, math_ceil, huge =
    math.type, math.exp, math.abs, math.floor, math.ceil, math.huge
local math_tointeger, math_log, math_atan = math.tointeger, math.log, math.atan
local tonumber, ipairs = tonumber, ipairs
local raw_len = rawlen
local string_lib = string

_ENV.unpack = unpack
math.pow = function(x, y) return x ^ y end
math.log10 = function(x) return math_log(x, 10) end
math.atan2 = function(y, x) return math_atan(y, x) end

-- Go's math.Sinh, math.Cosh and math.Tanh (what Wippy runs): exact near zero, where
-- (e^x - e^-x) / 2 would cancel.
function math.sinh(x)
    local a = math_abs(x)
    local r
    if a > 21 then
        r = math_exp(a) * 0.5
    elseif a > 0.5 then
        local ex = math_exp(a)
        r = (ex - 1 / ex) * 0.5
    else
        local sq = a * a
        r = (((-0.2630563213397497062819489e+2 * sq - 0.2894211355989563807284660366e+4) * sq
            - 0.8991272022039509355398013511e+5) * sq - 0.6307673640497716991184787251e+6) * a
        r = r / (((sq - 0.173678953558233699533450911e+3) * sq + 0.1521517378790019070696485176e+5)
            * sq - 0.6307673640497716991212077277e+6)
    end
    if x < 0 then return -r end
    return r
end

function math.cosh(x)
    local a = math_abs(x)
    if a > 21 then return math_exp(a) * 0.5 end
    local ex = math_exp(a)
    return (ex + 1 / ex) * 0.5
end

function math.tanh(x)
    local z = math_abs(x)
    if z > 0.5 * 8.8029691931113054295988e+01 then
        if x < 0 then return -1.0 end
        return 1.0
    elseif z >= 0.625 then
        local s = math_exp(2 * z)
        z = 1 - 2 / (s + 1)
        if x < 0 then return -z end
        return z
    elseif x == 0 then
        return x
    end
    local s = x * x
    return x + x * s * ((-9.64399179425052238628e-1 * s - 9.92877231001918586564e1) * s
        - 1.61468768441708447952e3) / (((s + 1.12811678491632931402e2) * s
        + 2.23548839060100448583e3) * s + 4.84406305325125486048e3)
end

-- Pre-sizing is an allocation hint Lua 5.4 cannot take from Lua code.
table.create = function() return {} end

-- Go's strconv.FormatFloat(x, 'g' or 'f' when `fixed`, -1, 64): the shortest digits that read
-- back as x (Lua's %.14g rounds, %.17g over-prints), laid out the way Go lays them out.
local function go_float(x, fixed)
    if x ~= x then return "NaN" end
    if x == huge then return "+Inf" end
    if x == -huge then return "-Inf" end
    if x == 0 then return (1 / x < 0) and "-0" or "0" end
    local s
    for digits = 14, 16 do
        s = str_format("%." .. digits .. "e", x)
        if tonumber(s) == x then break end
    end
    local sign, first, rest, e = s:match("^(-?)(%d)%.(%d*)e([-+]%d+)$")
    local mantissa = (first .. rest):gsub("0+$", "")
    e = tonumber(e)
    local n = #mantissa
    if not fixed and (e < -4 or e >= 6) then
        local m = n > 1 and (mantissa:sub(1, 1) .. "." .. mantissa:sub(2)) or mantissa
        return sign .. m .. (e < 0 and "e-" or "e+") .. str_format("%02d", math_abs(e))
    end
    if e < 0 then return sign .. "0." .. ("0"):rep(-e - 1) .. mantissa end
    if n <= e + 1 then return sign .. mantissa .. ("0"):rep(e + 1 - n) end
    return sign .. mantissa:sub(1, e + 1) .. "." .. mantissa:sub(e + 2)
end

-- tostring as Wippy prints numbers (Go's LNumber.String): an integral float has no ".0"
-- (10/2 -> "5"), others the shortest round-trip form (0.1+0.2 -> "0.30000000000000004"), and
-- inf/nan read "+Inf", "-Inf", "NaN". `..` on numbers still uses Lua's own formatting.
local function go_tostring(...)
    local v = ...
    if math_type(v) == "float" then
        local i = math_tointeger(v)
        if i ~= nil then return str_format("%d", i) end
        return go_float(v, false)
    end
    return tostring(...)
end
_ENV.tostring = go_tostring

local base_print = print
print = function(...)
    local args = pack(...)
    for i = 1, args.n do
        if math_type(args[i]) == "float" then args[i] = go_tostring(args[i]) end
    end
    return base_print(unpack(args, 1, args.n))
end

-- string.format("%d", 2.5) is "2" in Wippy (Go casts to int64, truncating toward zero): floats
-- given to integer conversions are truncated first, then the real string.format runs.
local INTEGER_CONVERSION = { d = true, i = true, c = true, o = true, x = true, X = true }

local function truncate(v)
    if math_type(v) ~= "float" or v ~= v or v == huge or v == -huge then return v end
    return math_tointeger(v >= 0 and math_floor(v) or math_ceil(v)) or v
end

string_lib.format = function(fmt, ...)
    local args = pack(...)
    local floats = false
    for i = 1, args.n do
        if math_type(args[i]) == "float" then floats = true break end
    end
    if not floats or type(fmt) ~= "string" then return str_format(fmt, ...) end
    local i = 0
    for conversion in fmt:gmatch("%%[-+ #0]*%d*%.?%d*(.)") do
        if conversion ~= "%" then
            i = i + 1
            if INTEGER_CONVERSION[conversion] then args[i] = truncate(args[i]) end
        end
    end
    return str_format(fmt, unpack(args, 1, args.n))
end

-- type(T) is "type" for type values. Their metatable exists from the start (one empty table) so
-- that this check stays cheap; the library that fills it is loaded on first use.
local TYPE_MT = { __name = "type", __opaque = true }
local raw_type = type
_ENV.type = function(...)
    if select("#", ...) == 0 then raw_error("bad argument #1 to 'type' (value expected)", 2) end
    local t = raw_type(...)
    if t == "table" and getmetatable((...)) == TYPE_MT then return "type" end
    return t
end

-- Every key of t in the pairs() order, read raw (no __pairs): for validation that must report
-- the same failure on every worker.
local function sorted_keys(t)
    local keys, n = {}, 0
    for k in raw_next, t do
        n = n + 1
        keys[n] = k
    end
    table_sort(keys, key_less)
    return keys
end

local types_source, re_search, types_lib = bridge.types_source, bridge.re_search, nil
local safe_pcall = pcall

-- Translated chunks start with `local __wt = __wippy_types();`: the first call in a state loads
-- luaflow/types.lua and installs the primitive casts (`integer(x)`, `number:is(x)`...) and a
-- callable `string` library (`string(x)`, `string:is(x)`; `string.upper` stays as it is).
function __wippy_types()
    if types_lib == nil then
        local chunk, err = raw_load(types_source(), "@luaflow/types.lua", "t")
        if chunk == nil then raw_error(err, 0) end
        local string_mt
        types_lib, string_mt = chunk({
            mt = TYPE_MT,
            type = raw_type,
            pcall = safe_pcall,
            rawlen = raw_len,
            sorted_keys = sorted_keys,
            re_search = re_search,
            go_float = go_float,
            go_tostring = go_tostring,
            string = string_lib,
            invalid = function(message, details)
                return make_error(message, KINDS.INVALID, nil, details)
            end,
        })
        for _, name in ipairs({ "integer", "number", "boolean", "any", "unknown", "never" }) do
            _ENV[name] = types_lib[name]
        end
        setmetatable(string_lib, string_mt)
    end
    return types_lib
end

-- Remove everything user code must not reach.
load, loadstring, loadfile, dofile, collectgarbage, rawlen = nil, nil, nil, nil, nil, nil
io, debug, utf8, package, python = nil, nil, nil, nil, nil
string.dump = nil

return rt
