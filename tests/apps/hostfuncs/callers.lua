-- Host functions calling functions with `funcs`, as Wippy's own suites do.
local funcs = require("funcs")  -- luaflow: ignore undeclared-module (app:no_funcs fails on purpose)

-- host -> host function -> host function -> workflow -> activity, and back.
local function chain(amount)
    local r, err = funcs.call("app:chain_mid", {id = "o-1", amount = amount})
    if err then return {kind = err:kind(), message = err:message()} end
    return r
end

local function calls()
    local r, err = funcs.call("app:echo", "test input")
    local none = funcs.call("app:echo")
    return {echo = r.echo, ok = r.ok, err = err, none = none.echo}
end

local function validation()
    local _, e1 = funcs.call("")
    local _, e2 = funcs.call("nonamespace")
    local _, e3 = funcs.call("ns:")
    local f, e4 = funcs.async("")
    local raised, msg = pcall(funcs.call, nil)
    local _, e5 = funcs.call("app:nothing_here")
    local _, e6 = funcs.call("app:hostless_process")
    return {
        {e1:kind(), e1:message()}, {e2:kind(), e2:message()}, {e3:kind(), e3:message()},
        {f == nil, e4:kind()}, {raised, tostring(msg)}, {e5:kind()}, {e6:kind()},
    }
end

local function kinds()
    local _, down = funcs.call("app:error_with_kind", errors.UNAVAILABLE, "down")
    local _, plain = funcs.call("app:plain_error")
    local _, raised = funcs.call("app:raises")
    local _, missing = funcs.call("app:undeclared_module", {})
    local _, nested = funcs.call("app:chain_mid", {id = "o-2", amount = 500})
    return {
        down = {down:kind(), down:retryable(), down:message()},
        plain = {plain:kind(), plain:message()},
        raised = {raised:kind(), tostring(raised)},
        missing = {missing:kind(), tostring(missing)},
        nested = {nested:kind(), nested:message()},
    }
end

local function futures()
    local f = funcs.async("app:slow", "300ms", "test")
    local before = {f:is_complete(), f:result()}
    local _, failed_before = f:error()
    local p, ok = f:response():receive()
    local after = {f:is_complete(), f:result() == p, select(2, f:error())}
    local bad = funcs.async("app:error_with_kind", errors.NOT_FOUND, "m")
    local e, eok = bad:response():receive()
    local _, rerr = bad:result()
    local wrapped, failed = bad:error()
    return {
        before = before, failed_before = failed_before, ok = ok, data = p:data(), after = after,
        bad = {eok, e:kind(), rerr:kind(), wrapped:kind(), wrapped:message(), failed},
    }
end

-- Three futures raced with channel.select: they arrive fastest first.
local function select_futures()
    local fs = {
        funcs.async("app:slow", "600ms", "third"),
        funcs.async("app:slow", "10ms", "first"),
        funcs.async("app:slow", "300ms", "second"),
    }
    local order, same = {}, fs[1]:channel() == fs[1]:channel()
    for i = 1, 3 do
        local r = channel.select{
            fs[1]:channel():case_receive(), fs[2]:channel():case_receive(),
            fs[3]:channel():case_receive(),
        }
        order[i] = r.value:data()
    end
    return {order = order, same = same}
end

local function cancel()
    local f = funcs.async("app:slow", "20s", "c")
    local cancelled, cerr = f:cancel()
    local v, e = f:result()
    local got, ok = f:channel():receive()  -- the callee, stopped, reports Canceled
    return {cancelled = cancelled, cerr = cerr, canceled = f:is_canceled(), v = v,
            kind = e:kind(), delivered = {ok, got:kind()}}
end

-- The caller's other coroutines go on while it waits for a call.
local function waits_alone()
    local time = require("time")
    local ticks, done = 0, false
    coroutine.spawn(function()
        while not done do
            time.sleep("20ms")
            ticks = ticks + 1
        end
    end)
    local r = funcs.call("app:slow", "400ms", "x")
    done = true
    return {r = r, ticks = ticks}
end

local function executors()
    local a = funcs.new()
    local b = a:with_options({timeout = 1000})
    local c = funcs.new():with_context({request_id = "req-123", user_id = 42, is_admin = true})
    local d = funcs.new():with_context({key1 = "value1"}):with_context({key2 = "value2"})
    local nested = funcs.new():with_context({request_id = "nested-req-456"})
        :call("app:nested_caller", {"request_id"})
    local rejected = not pcall(a.with_options, a, nil)
    return {
        distinct = a ~= b, via_options = b:call("app:echo", "x").echo,
        ctx = c:call("app:ctx_reader", {"request_id", "user_id", "is_admin"}),
        merged = d:call("app:ctx_reader", {"key1", "key2"}),
        nested = nested, rejected = rejected,
    }
end

local function processes_as_functions()
    local r = funcs.call("app:echo_process", "test input")
    local _, err = funcs.call("app:error_process")
    return {echo = r.echo, pid = r.pid ~= nil,
            error = string.find(tostring(err), "intentional process error", 1, true) ~= nil,
            kind = err:kind()}
end

-- n calls at once with funcs.async, collected with channel.select (the bench shape).
local function fan_out(n)
    local fs, cases = {}, {}
    for i = 1, n do
        fs[i] = funcs.async("app:echo", i)
        cases[i] = fs[i]:channel():case_receive()
    end
    local sum = 0
    for _ = 1, n do
        local r = channel.select(cases)
        sum = sum + r.value:data().echo
    end
    return sum
end

local function outside_workflow()
    local workflow = require("workflow")
    local info, ierr = workflow.info()
    local r, xerr = workflow.exec("app:order", {id = "x", amount = 1})
    return {info = info, info_kind = ierr:kind(), length = workflow.history_length(),
            size = workflow.history_size(), exec = r, exec_kind = xerr:kind()}
end

return { chain = chain, calls = calls, validation = validation, kinds = kinds,
         futures = futures, select_futures = select_futures, cancel = cancel,
         waits_alone = waits_alone, executors = executors,
         processes_as_functions = processes_as_functions, fan_out = fan_out,
         outside_workflow = outside_workflow }
