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
    if type(err) == "userdata" then return false, bridge.lua_error(err) end
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
-- Errors (SPEC 2.8): structured error objects with a kind, retryable flag, details and a cause.
local Error = {}
Error.__index = Error
Error.__name = "error"

local KINDS = {
    UNKNOWN = "", INVALID = "Invalid", NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists",
    PERMISSION_DENIED = "PermissionDenied", TIMEOUT = "Timeout", CANCELED = "Canceled",
    UNAVAILABLE = "Unavailable", INTERNAL = "Internal", CONFLICT = "Conflict",
    RATE_LIMITED = "RateLimited",
}

local function is_error(v)
    return type(v) == "table" and getmetatable(v) == Error
end

local function where(level)
    local info = getinfo(level, "Sl")
    if info == nil then return "" end
    return info.short_src .. ":" .. tostring(info.currentline)
end

local function make_error(message, kind, retryable, details, cause, stack)
    return setmetatable({
        _message = message, _kind = kind or "", _retryable = retryable,
        _details = details, _cause = cause, _stack = stack or "",
    }, Error)
end

function Error:kind()
    return self._kind
end
function Error:message()
    return self._message
end
function Error:retryable()
    return self._retryable
end
function Error:details()
    return self._details
end
function Error:stack()
    return self._stack
end
function Error:cause()
    return self._cause
end
Error.__tostring = function(self)
    if self._cause ~= nil then
        return self._message .. ": " .. tostring(self._cause)
    end
    return self._message
end

errors = {}
for k, v in pairs(KINDS) do errors[k] = v end

function errors.new(spec, extra)
    if extra ~= nil then
        raw_error("errors.new(kind, message) is not supported: use errors.new({kind=..., message=...})", 2)
    end
    if type(spec) == "string" then
        return make_error(spec, "", nil, nil, nil, where(3))
    end
    if type(spec) ~= "table" then
        raw_error("errors.new expects a message string or an options table", 2)
    end
    if type(spec.message) ~= "string" then
        raw_error("errors.new: field 'message' (string) is required", 2)
    end
    return make_error(spec.message, spec.kind or "", spec.retryable, spec.details, nil, where(3))
end

function errors.wrap(err, context)
    if err == nil then return nil end
    if not is_error(err) then
        err = make_error(tostring(err), "", nil, nil, nil, "")
    end
    return make_error(context or "", err._kind, err._retryable, err._details, err, err._stack)
end

function errors.is(err, kind)
    if not is_error(err) then return false end
    return err._kind == kind
end

function errors.call_stack(err)
    if not is_error(err) or err._stack == "" then return nil end
    return { thread = "main", frames = { { source = err._stack, line = 0, name = "" } } }
end

rt.is_error = is_error
rt.make_error = make_error

-- Python-side helpers to read/write error objects without reaching into their fields by name.
function rt.error_fields(e)
    return e._message, e._kind, e._retryable, e._details, e._cause
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

-- Remove everything user code must not reach.
load, loadstring, loadfile, dofile, collectgarbage, rawlen = nil, nil, nil, nil, nil, nil
io, debug, utf8, package, python = nil, nil, nil, nil, nil
string.dump = nil

return rt
