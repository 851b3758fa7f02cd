-- Sandbox prelude: runs once in every fresh Lua state before any user code.
-- It captures the few privileged functions the runtime needs, removes everything user code must
-- not reach (I/O, loading code, debug, the Python bridge), and installs the always-available
-- globals (errors, a deterministic-safe os, coroutine transparency, require).
local bridge = ...

local sethook, getinfo, getregistry, raw_getmetatable =
    debug.sethook, debug.getinfo, debug.getregistry, debug.getmetatable
local raw_load = load
local co_create, co_resume, co_yield, co_status, co_running, co_isyieldable, co_close =
    coroutine.create, coroutine.resume, coroutine.yield, coroutine.status, coroutine.running,
    coroutine.isyieldable, coroutine.close
local raw_pcall, raw_xpcall, raw_error = pcall, xpcall, error
local os_date, os_clock, os_difftime, os_time = os.date, os.clock, os.difftime, os.time
local str_format = string.format
local pack, unpack = table.pack, table.unpack
local getmetatable, type, tostring, rawget, rawset, rawequal, select =
    getmetatable, type, tostring, rawget, rawset, rawequal, select
local int_type, to_integer, to_number, log = math.type, math.tointeger, tonumber, math.log
local raw_length = rawlen
local gc_count = collectgarbage
local raw_setmetatable = setmetatable

local rt = {}   -- runtime-private table handed back to Python

---------------------------------------------------------------------------------------------------
-- Limits (DESIGN invariant 2): every activation is bounded in instructions, wall-clock time and
-- memory, including time spent in C functions and metamethods.
-- * A count hook on every coroutine and on the main thread charges the instruction budget, asks
--   the runtime whether the activation's deadline passed, and checks memory.
-- * Work that runs few VM instructions is caught too: each finished garbage-collection cycle
--   makes the hook fire at the next instruction (C work that allocates: concatenation, rep,
--   upper...), C functions whose cost grows with their input report it (patterns, sort, move,
--   unpack, byte), and a pattern call whose worst case is too long for C runs on a matcher
--   written in Lua instead (luaflow/pattern.lua), which the hook interrupts.
-- * Every call into Python checks memory first, so Python always has the reserve between this
--   soft cap and the allocator's hard cap: an allocation failure inside Python's own calls into
--   Lua would unwind through Python frames.
-- * __gc is ignored on tables: Lua runs finalizers with hooks disabled (see setmetatable below).
-- A limit, once hit, sticks: pcall, xpcall and coroutine.resume re-raise it, and every later
-- hook or call into Python raises it again, so user code cannot swallow it.
local HOOK_EVERY = 10000
local function limit(name)
    return raw_setmetatable({}, { __tostring = function() return name end, __metatable = false })
end
local INSTRUCTIONS, TIME, MEMORY = limit("instructions"), limit("time"), limit("memory")
local LIMITS = { instructions = INSTRUCTIONS, time = TIME, memory = MEMORY }
local LIMIT_NAMES = { [INSTRUCTIONS] = "instructions", [TIME] = "time", [MEMORY] = "memory" }
local MEMORY_ERROR = "not enough memory"  -- what Lua raises when the allocator refuses
local budget_left, main_left = math.maxinteger, math.maxinteger
local memory_kb = math.huge
local expired = bridge.expired
local failed = nil
local hook

local function fail(which)
    failed = which
    sethook(hook, "", 1)
    raw_error(which, 0)
end

local function check_memory()
    if gc_count("count") > memory_kb then fail(MEMORY) end
end

-- User code only runs in coroutines. The main thread runs the helpers Python calls (value and
-- error conversion, also after a limit was hit), bounded by instructions alone: metamethods
-- they trigger cannot loop.
hook = function()
    local _, main = co_running()
    if main then
        main_left = main_left - HOOK_EVERY
        sethook(hook, "", HOOK_EVERY)
        if main_left < 0 then raw_error(INSTRUCTIONS, 0) end
        return
    end
    if failed ~= nil then raw_error(failed, 0) end
    budget_left = budget_left - HOOK_EVERY
    if budget_left < 0 then fail(INSTRUCTIONS) end
    if expired() then fail(TIME) end
    check_memory()
    sethook(hook, "", HOOK_EVERY)  -- back to the normal rate after a garbage-collection tick
end

local function new_coroutine(fn)
    local co = co_create(fn)
    sethook(co, hook, "", HOOK_EVERY)
    return co
end
sethook(hook, "", HOOK_EVERY)  -- the main thread runs the helpers Python calls

-- A fresh budget for the activation about to run (and for helpers until the next one).
function rt.set_budget(n)
    budget_left, main_left = n, n
end

function rt.set_memory_limit(kb)
    memory_kb = kb
end

function rt.memory_used()
    return gc_count("count") * 1024
end

-- The limit a raised value stands for ("instructions", "time", "memory"), or nil.
function rt.limit_of(e)
    if rawequal(e, MEMORY_ERROR) then return "memory" end
    if type(e) ~= "table" then return nil end
    return LIMIT_NAMES[e]
end

-- Marks the state failed on a limit Python detected (memory above the cap after a step).
function rt.fail(name)
    failed = LIMITS[name]
end

-- Re-raise a limit (or Lua's own memory error, which is the hard cap) caught by a protected call.
local function fatal(err)
    if rawequal(err, MEMORY_ERROR) then fail(MEMORY) end
    if type(err) == "table" and LIMIT_NAMES[err] ~= nil then raw_error(err, 0) end
end

-- Each finished collection cycle runs this (and leaves a new one for the next cycle): the hook
-- fires at the next instruction, so C work that allocates cannot run far past the deadline.
local closing = false
local GC_TICK = {}
GC_TICK.__gc = function()
    if closing then return end
    sethook(hook, "", 1)
    raw_setmetatable({}, GC_TICK)
end
raw_setmetatable({}, GC_TICK)

-- Calls into Python go through this gate (the __call of lupa's wrapper of Python objects).
local py_object = getregistry().POBJECT
local py_call = rawget(py_object, "__call")
rawset(py_object, "__call", function(fn, ...)
    local _, main = co_running()
    if not main then
        if failed ~= nil then raw_error(failed, 0) end
        check_memory()
    end
    return py_call(fn, ...)
end)
rawset(py_object, "__metatable", false)

-- C work of `units` (about a nanosecond each) done or about to be done: the deadline is checked
-- after each millisecond or so of it, however few instructions run in between.
local CHECK_UNITS = 1000000
local units_since_check = 0
local function spend(units)
    units_since_check = units_since_check + units
    if units_since_check >= CHECK_UNITS then
        units_since_check = 0
        local _, main = co_running()
        if main then return end
        if failed ~= nil then raw_error(failed, 0) end
        if expired() then fail(TIME) end
    end
end

-- A frame of user code: not C, not luaflow's own chunks (loaded as bytecode without debug
-- information, source "=?", or compiled under an "@luaflow/" name).
local function is_user_frame(info)
    local source = info.source
    return info.what ~= "C" and source ~= "=?" and source:sub(1, 9) ~= "@luaflow/"
end

-- An error raised where a C function's error would be: at the first frame outside luaflow.
local function user_error(message)
    for level = 2, 40 do
        local info = getinfo(level, "Sl")
        if info == nil then break end
        if is_user_frame(info) then
            raw_error(info.short_src .. ":" .. tostring(info.currentline) .. ": " .. message, 0)
        end
    end
    raw_error(message, 0)
end

local function type_name(v)
    local mt = raw_getmetatable(v)
    local name = type(mt) == "table" and rawget(mt, "__name") or nil
    if type(name) == "string" then return name end
    return type(v)
end

local function arg_error(n, fname, message)
    user_error(str_format("bad argument #%d to '%s' (%s)", n, fname, message))
end

local function want_string(v, n, fname)
    local t = type(v)
    if t == "string" then return v end
    if t == "number" then return tostring(v) end
    arg_error(n, fname, "string expected, got " .. type_name(v))
end

-- luaL_optinteger: nil, or a number or numeric string with an exact integer value.
local function want_integer(v, n, fname)
    if v == nil or int_type(v) == "integer" then return v end
    local number = type(v) ~= "boolean" and to_number(v) or nil
    if number == nil then arg_error(n, fname, "number expected, got " .. type_name(v)) end
    local i = to_integer(number)
    if i == nil then arg_error(n, fname, "number has no integer representation") end
    return i
end

-- __gc is ignored on tables, as in Wippy's VM. An object is marked for finalization only if its
-- metatable has __gc when it is set, so the field is hidden for that moment.
local set_globals_metatable  -- below: the globals' metatable stays luaflow's own

local function setmetatable(t, mt)
    if rawequal(t, _ENV) then return set_globals_metatable(mt) end
    if type(t) ~= "table" then
        arg_error(1, "setmetatable", "table expected, got " .. type_name(t))
    end
    if mt ~= nil and type(mt) ~= "table" then
        arg_error(2, "setmetatable", "nil or table expected")
    end
    local current = raw_getmetatable(t)
    if current ~= nil and rawget(current, "__metatable") ~= nil then
        user_error("cannot change a protected metatable")
    end
    local finalizer = mt ~= nil and rawget(mt, "__gc") or nil
    if finalizer == nil then return raw_setmetatable(t, mt) end
    rawset(mt, "__gc", nil)
    raw_setmetatable(t, mt)
    rawset(mt, "__gc", finalizer)
    return t
end
_ENV.setmetatable = setmetatable

-- The string and table functions whose cost grows with their input (patterns, rep, byte,
-- unpack, move, insert, remove; sort below) run bounded: in C when their worst case is cheap enough
-- (and C cannot raise an error for it, so errors always point at the caller's line), otherwise
-- on the matcher in luaflow/pattern.lua. Their wrappers are luaflow/bounded.lua, loaded the first
-- time one of them is called; until then each is a stub that loads it.
local C = {
    byte = string.byte, char = string.char, sub = string.sub, find = string.find,
    match = string.match, gmatch = string.gmatch, gsub = string.gsub, rep = string.rep,
    concat = table.concat, unpack = table.unpack, sort = table.sort, move = table.move,
    insert = table.insert, remove = table.remove,
}
-- luaflow's chunk `name`, compiled once per process: its bytecode comes from the runtime.
local own_chunk = bridge.own_chunk
local function load_own(name)
    local chunk, err = raw_load(own_chunk(name), "=?", "b")
    if chunk == nil then raw_error(err, 0) end
    return chunk
end

local bounded

local function refuse_above_memory(bytes)
    if bytes > memory_kb * 1024 then fail(MEMORY) end
end

local function load_bounded()
    if bounded == nil then
        bounded = load_own("bounded.lua")(
            C, load_own, spend, refuse_above_memory, fatal, user_error, arg_error, type_name,
            want_string, want_integer, int_type, raw_length, raw_getmetatable, pack, unpack,
            raw_pcall, raw_error, type, rawget, select, math.maxinteger
        )
    end
    return bounded
end

local function bounded_stubs(lib, names)
    for _, name in ipairs(names) do
        lib[name] = function(...) return load_bounded()[name](...) end
    end
end
bounded_stubs(string, { "find", "match", "gmatch", "gsub", "rep", "byte" })
bounded_stubs(table, { "unpack", "move", "insert", "remove" })

-- sort stays here: pairs() sorts keys with it in every state.
table.sort = function(t, cmp)
    local n = type(t) == "table" and raw_length(t) or 0
    C.sort(t, cmp)
    if n > 1 then spend(n * log(n, 2) * 20) end
end

-- Errors raised by Python module functions arrive as Python exceptions: user code sees them as
-- error objects (kind, message...) like any other.
local function rethrow(ok, ...)
    if ok then return ok, ... end
    local err = ...
    fatal(err)
    if rt.is_python(err) then return false, bridge.lua_error(err) end
    return ok, ...
end

pcall = function(f, ...)
    return rethrow(raw_pcall(f, ...))
end

xpcall = function(f, handler, ...)
    return rethrow(raw_xpcall(f, function(e)
        if rt.limit_of(e) ~= nil then return e end
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
-- Only the runtime can make that yield: the tag is private, user code cannot yield a task itself
-- (a task is the top level of its code, as the main thread is), and no coroutine can be resumed
-- while it waits on the runtime, so nobody can answer in the runtime's place.
local AWAIT = raw_setmetatable({}, { __tostring = function() return "luaflow.await" end })
local tasks = raw_setmetatable({}, { __mode = "k" })    -- coroutines the scheduler resumes
local waiting = raw_setmetatable({}, { __mode = "k" })  -- user coroutines in a runtime call

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
        if is_user_frame(info) then
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
    if not ok then
        fatal((...))
        return ok, ...
    end
    if rawequal((...), AWAIT) and co_status(co) == "suspended" then
        waiting[co] = true
        local answer = pack(co_yield(AWAIT, select(2, ...)))
        waiting[co] = nil
        return forward(co, co_resume(co, unpack(answer, 1, answer.n)))
    end
    return ok, ...
end

local function check_resumable(co)
    if tasks[co] or waiting[co] then
        user_error("cannot resume a coroutine that waits on the runtime")
    end
end

local coroutine_lib = {}
for k, v in pairs(coroutine) do coroutine_lib[k] = v end
coroutine_lib.create = new_coroutine
coroutine_lib.resume = function(co, ...)
    check_resumable(co)
    return forward(co, co_resume(co, ...))
end
coroutine_lib.wrap = function(fn)
    local co = new_coroutine(fn)
    return function(...)
        check_resumable(co)
        local res = pack(forward(co, co_resume(co, ...)))
        if not res[1] then raw_error(res[2], 0) end
        return unpack(res, 2, res.n)
    end
end
coroutine_lib.close = function(co)
    check_resumable(co)
    local res = pack(co_close(co))
    if not res[1] then fatal(res[2]) end
    return unpack(res, 1, res.n)
end
coroutine_lib.yield = function(...)
    if tasks[co_running()] then user_error("attempt to yield from outside a coroutine") end
    return co_yield(...)
end
coroutine_lib.running = function()
    local co, main = co_running()
    return co, main or tasks[co] == true
end
coroutine_lib.isyieldable = function(co)
    co = co or co_running()
    if tasks[co] then return false end
    return co_isyieldable(co)
end
coroutine = coroutine_lib

-- A task is driven from Python through the closure returned here: Python calls it to resume.
-- (Resuming through a Lua function would leave values on the main state's stack that lupa then
-- mistakes for results of table reads done from Python callbacks.) Each resume returns nil,
-- request when the task waits on the runtime; true, results... when it returned; false, err
-- when it raised (or was suspended by anything but the runtime, which the guards above forbid).
local function settle(co, ok, ...)
    if not ok then return false, (...) end  -- a limit raised outside the pcall
    if co_status(co) == "dead" then return ... end
    if rawequal((...), AWAIT) then return nil, select(2, ...) end
    return false, "attempt to yield from outside a coroutine"
end

function rt.new_task(fn, ...)
    local args = pack(...)
    local co = new_coroutine(function()
        return raw_pcall(fn, unpack(args, 1, args.n))
    end)
    tasks[co] = true
    return function(...)
        return settle(co, co_resume(co, ...))
    end
end

---------------------------------------------------------------------------------------------------
-- Host objects: values of luaflow's own types that are userdata, as in Wippy (errors, time
-- values), so that `type(v)` is "userdata". A full userdata can only come from the host: Python
-- hands over a fresh object, whose metatable is swapped for the type's; the fields live in its
-- user value. A type's metatable sets `__gc = release`, which puts lupa's own metatable back and
-- runs lupa's finalizer, so the Python side is released too.
local d_getmetatable, d_setmetatable = debug.getmetatable, debug.setmetatable
local d_getuservalue, d_setuservalue = debug.getuservalue, debug.setuservalue
local new_token = bridge.error_token
local TOKEN_MT = d_getmetatable(new_token())
local token_gc = rawget(TOKEN_MT, "__gc")

local function release(u)
    d_setmetatable(u, TOKEN_MT)
    token_gc(u)
end

local function new_object(mt, fields)
    local u = new_token()
    d_setmetatable(u, mt)
    d_setuservalue(u, fields, 1)
    return u
end

local function object_fields(u)
    return d_getuservalue(u, 1)
end

rt.objects = { new = new_object, fields = object_fields, release = release }

-- A Python object that Lua code received (a Python exception raised through Lua).
function rt.is_python(v)
    return type(v) == "userdata" and d_getmetatable(v) == TOKEN_MT
end

-- Errors (SPEC 2.8; Wippy's value semantics): error objects are host objects, so that code like
-- `type(err) == "table" and err.message or tostring(err)` works.
local Error = {}
Error.__name = "error"
Error.__metatable = "error"
Error.__gc = release

local KINDS = {
    UNKNOWN = "", INVALID = "Invalid", NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists",
    PERMISSION_DENIED = "PermissionDenied", TIMEOUT = "Timeout", CANCELED = "Canceled",
    UNAVAILABLE = "Unavailable", INTERNAL = "Internal", CONFLICT = "Conflict",
    RATE_LIMITED = "RateLimited",
}

local function is_error(v)
    return type(v) == "userdata" and d_getmetatable(v) == Error
end

local fields = object_fields

-- Up to 12 Lua frames where the error was made (C frames and luaflow's own code skipped).
local function capture_frames(level)
    local frames = {}
    for lv = level, level + 40 do
        local info = getinfo(lv, "Sln")
        if info == nil or #frames >= 12 then break end
        if is_user_frame(info) then
            frames[#frames + 1] = {
                level = #frames + 1, source = info.short_src, line = info.currentline,
                name = info.name or "", type = info.what,
            }
        end
    end
    return frames
end

-- message: what tostring gives; context: set by errors.wrap (Go's Error() is "context: message");
-- cause: the wrapped error, kept for the chain that crosses Temporal.
local function make_error(message, kind, retryable, details, cause, frames, context)
    return new_object(Error, {
        message = message, kind = kind or "", retryable = retryable, details = details,
        cause = cause, frames = frames or {}, context = context,
    })
end

Error.__tostring = function(self) return fields(self).message end
Error.__concat = function(a, b)
    local sa = is_error(a) and fields(a).message or tostring(a)
    local sb = is_error(b) and fields(b).message or tostring(b)
    return sa .. sb
end

-- The methods of error values and the `errors` module (luaflow/errors.lua) load on first use:
-- most runs make no error at all, and those made by the host need only make_error.
local error_methods, errors_impl

local function load_errors()
    if errors_impl == nil then
        error_methods, errors_impl = load_own("errors.lua")(
            KINDS, make_error, fields, is_error, capture_frames, raw_error
        )
    end
end

Error.__index = function(_, k)
    load_errors()
    Error.__index = error_methods
    return error_methods[k]
end

-- The module table is read-only, as in Wippy.
local errors_mt = {
    __newindex = function() raw_error("errors module is read-only", 2) end,
    __pairs = function()
        load_errors()
        return next, errors_impl, nil
    end,
    __metatable = false,
}
errors_mt.__index = function(_, k)
    load_errors()
    errors_mt.__index = errors_impl
    return errors_impl[k]
end
errors = setmetatable({}, errors_mt)

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
    clock = nil,  -- set below
    difftime = os_difftime,
    platform = "wippy",
}

-- os.clock is Wippy's "seconds since the runtime started", read from the same clock as os.time
-- (workflow time in workflows, so replay-safe), not the CPU time of the worker.
local clock_start
os.clock = function()
    local now = bridge.now_precise()
    if clock_start == nil then clock_start = now end
    return now - clock_start
end

---------------------------------------------------------------------------------------------------
-- Globals a run may never touch (`process`, `payload`) are built by the host the first time code
-- reads one, requires it, or the host needs its parts: name -> builder, shared by the names one
-- builder makes. Raw reads (rawget, next) before that do not see them.
local lazy_globals, lazy_next = {}, next

local function build_lazy(name)
    local build = lazy_globals[name]
    if build == nil then return end
    for k, b in lazy_next, lazy_globals do
        if b == build then lazy_globals[k] = nil end
    end
    build()
end

local function build_lazy_globals()
    local name = lazy_next(lazy_globals)
    while name ~= nil do
        build_lazy(name)
        name = lazy_next(lazy_globals)
    end
end

function rt.lazy_global(name, build) lazy_globals[name] = build end

-- A global, built first if it is lazy (require of `process` and friends, and Python).
function rt.global_of(name)
    build_lazy(name)
    return rawget(_ENV, name)
end

-- The metatable user code gives _G (strict-mode checks and the like) works behind luaflow's own,
-- which builds lazy globals first and answers the runtime's own lookup of `debug` itself: lupa
-- reads that global unprotected on its way into Lua, so an error there would abort the process.
local user_globals_mt

local GLOBALS_MT = {
    __index = function(t, k)
        if lazy_globals[k] ~= nil then
            build_lazy(k)
            return rawget(t, k)
        end
        local umt = user_globals_mt
        if umt == nil or k == "debug" then return nil end
        local index = rawget(umt, "__index")
        if type(index) == "function" then return index(t, k) end
        if index ~= nil then return index[k] end
        return nil
    end,
    __newindex = function(t, k, v)
        local umt = user_globals_mt
        local newindex = umt ~= nil and rawget(umt, "__newindex") or nil
        if type(newindex) == "function" then return newindex(t, k, v) end
        if newindex ~= nil then
            newindex[k] = v
            return
        end
        rawset(t, k, v)
    end,
}
raw_setmetatable(_ENV, GLOBALS_MT)

set_globals_metatable = function(mt)
    if mt ~= nil and type(mt) ~= "table" then
        arg_error(2, "setmetatable", "nil or table expected")
    end
    if user_globals_mt ~= nil and rawget(user_globals_mt, "__metatable") ~= nil then
        user_error("cannot change a protected metatable")
    end
    build_lazy_globals()  -- a strict __index must not hide them
    user_globals_mt = mt
    GLOBALS_MT.__metatable = mt  -- getmetatable(_G) is what user code set
    return _ENV
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

-- print goes through the runtime: workflows stay quiet while replaying. Past the state's output
-- limit it returns at once (the runtime says so).
local printing = true
print = function(...)
    if not printing then return end
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do parts[i] = tostring((select(i, ...))) end
    printing = bridge.print(table.concat(parts, "\t"))
end

-- Identity of a table for cycle detection in value conversion.
function rt.ptr(t)
    return str_format("%p", t)
end

-- Tables with an `__opaque` metatable (time objects...) have no JSON form (B2).
function rt.identity(...)
    return ...
end

-- t[k] for Python, protected (user __index code runs): true, value or false, error.
local function index(t, k) return t[k] end
function rt.index(t, k)
    return raw_pcall(index, t, k)
end

function rt.is_opaque(t)
    local mt = raw_getmetatable(t)
    return type(mt) == "table" and rawget(mt, "__opaque") == true
end

rt.pack = pack

-- Drop every global and runtime table so that, once Python lets go of its Lua objects, a full
-- collection frees all Lua-held Python objects (see LuaState.close).
function rt.teardown()
    closing = true
    local globals = _ENV  -- not the global `_G`: user code may have rebound that name
    d_setmetatable(globals, nil)
    lazy_globals, user_globals_mt = {}, nil
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

-- Go's math.Sinh, math.Cosh and math.Tanh and strconv.FormatFloat live in luaflow/numbers.lua,
-- loaded on first use.
local numbers

local function load_numbers()
    if numbers == nil then
        numbers = load_own("numbers.lua")(C, str_format, tonumber, math_abs, math_exp, huge)
    end
    return numbers
end

for _, name in ipairs({ "sinh", "cosh", "tanh" }) do
    math[name] = function(x) return load_numbers()[name](x) end
end

-- Pre-sizing is an allocation hint Lua 5.4 cannot take from Lua code.
table.create = function() return {} end

-- Go's strconv.FormatFloat(x, 'g' or 'f' when `fixed`, -1, 64): the shortest digits that read
-- back as x, laid out the way Go lays them out.
local function go_float(x, fixed) return load_numbers().go_float(x, fixed) end

-- tostring as Wippy prints numbers (Go's LNumber.String): an integral float has no ".0"
-- (10/2 -> "5"), others the shortest round-trip form (0.1+0.2 -> "0.30000000000000004"), and
-- inf/nan read "+Inf", "-Inf", "NaN". `..` on numbers still uses Lua's own formatting.
local function go_tostring(...)
    if select("#", ...) == 0 then raw_error("bad argument #1 to 'tostring' (value expected)", 2) end
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
    for conversion in C.gmatch(fmt, "%%[-+ #0]*%d*%.?%d*(.)") do
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

local re_search, types_lib = bridge.re_search, nil
local safe_pcall = pcall

-- Translated chunks start with `local __wt = __wippy_types();`: the first call in a state loads
-- luaflow/types.lua and installs the primitive casts (`integer(x)`, `number:is(x)`...) and a
-- callable `string` library (`string(x)`, `string:is(x)`; `string.upper` stays as it is).
function __wippy_types()
    if types_lib == nil then
        local string_mt
        types_lib, string_mt = load_own("types.lua")({
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
            rawset(_ENV, name, types_lib[name])  -- past any __newindex user code set on _G
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
