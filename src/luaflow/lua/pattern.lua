-- Lua 5.4's pattern matching (lstrlib.c) written in Lua, so that the count hook can interrupt it
-- (the cost model that decides which calls may run in C instead is luaflow/pattern_cost.lua).
-- The C matcher backtracks without bound and never returns to the VM while it does: the prelude
-- sends every call whose worst case is too expensive for C here instead. Same results, same
-- errors (raised as {pattern_error = message} for the prelude to re-raise at the caller's line).
local C = ... -- the C string functions (the library's are the prelude's bounded wrappers)
local byte, sub, char, concat, unpack = C.byte, C.sub, C.char, C.concat, C.unpack
local type, tostring, tonumber, error = type, tostring, tonumber, error
local int_type = math.type

local MAXCCALLS = 200
local MAXCAPTURES = 32
local CAP_UNFINISHED, CAP_POSITION = -1, -2
local ESC, LBRACKET, RBRACKET, CARET, DOLLAR = 37, 91, 93, 94, 36
local LPAREN, RPAREN, DOT, DASH = 40, 41, 46, 45
local STAR, PLUS, QUESTION = 42, 43, 63

local function fail(message)
    error({ pattern_error = message }, 0)
end

-- Character classes of the C locale, as 256-entry tables indexed by byte value.
local function class_table(test)
    local t = {}
    for c = 0, 255 do t[c] = test(c) end
    return t
end
local function between(c, lo, hi) return c >= lo and c <= hi end
local function is_lower(c) return between(c, 97, 122) end
local function is_upper(c) return between(c, 65, 90) end
local function is_alpha(c) return is_lower(c) or is_upper(c) end
local function is_digit(c) return between(c, 48, 57) end
local function is_space(c) return c == 32 or between(c, 9, 13) end
local function is_cntrl(c) return c < 32 or c == 127 end
local function is_graph(c) return between(c, 33, 126) end
local function is_punct(c) return is_graph(c) and not is_alpha(c) and not is_digit(c) end
local CLASSES = {
    [97] = class_table(is_alpha), [99] = class_table(is_cntrl), [100] = class_table(is_digit),
    [103] = class_table(is_graph), [108] = class_table(is_lower), [112] = class_table(is_punct),
    [115] = class_table(is_space), [117] = class_table(is_upper),
    [119] = class_table(function(c) return is_alpha(c) or is_digit(c) end),
    [120] = class_table(function(c)
        return is_digit(c) or between(c, 97, 102) or between(c, 65, 70)
    end),
    [122] = class_table(function(c) return c == 0 end),
}

local function match_class(c, cl)
    local lower = is_upper(cl) and cl + 32 or cl
    local t = CLASSES[lower]
    if t == nil then return cl == c end
    if is_lower(cl) then return t[c] end
    return not t[c]
end

-- ms: {s, s_end (index after the last byte), p, p_end, level, init = {}, len = {}, depth}
local function class_end(ms, p)
    local pat, p_end = ms.p, ms.p_end
    local c = byte(pat, p)
    p = p + 1
    if c == ESC then
        if p >= p_end then fail("malformed pattern (ends with '%')") end
        return p + 1
    elseif c == LBRACKET then
        if byte(pat, p) == CARET then p = p + 1 end
        repeat
            if p >= p_end then fail("malformed pattern (missing ']')") end
            local cc = byte(pat, p)
            p = p + 1
            if cc == ESC and p < p_end then p = p + 1 end
        until byte(pat, p) == RBRACKET
        return p + 1
    end
    return p
end

-- `p` is the '[' and `ec` the closing ']'.
local function match_bracket_class(ms, c, p, ec)
    local pat = ms.p
    local sig = true
    if byte(pat, p + 1) == CARET then
        sig = false
        p = p + 1
    end
    p = p + 1
    while p < ec do
        local pc = byte(pat, p)
        if pc == ESC then
            p = p + 1
            if match_class(c, byte(pat, p)) then return sig end
        elseif byte(pat, p + 1) == DASH and p + 2 < ec then
            if pc <= c and c <= byte(pat, p + 2) then return sig end
            p = p + 2
        elseif pc == c then
            return sig
        end
        p = p + 1
    end
    return not sig
end

local function single_match(ms, s, p, ep)
    if s >= ms.s_end then return false end
    local c = byte(ms.s, s)
    local pc = byte(ms.p, p)
    if pc == DOT then return true
    elseif pc == ESC then return match_class(c, byte(ms.p, p + 1))
    elseif pc == LBRACKET then return match_bracket_class(ms, c, p, ep - 1)
    end
    return pc == c
end

local match

local function match_balance(ms, s, p)
    if p >= ms.p_end - 1 then fail("malformed pattern (missing arguments to '%b')") end
    local str = ms.s
    if byte(str, s) ~= byte(ms.p, p) then return nil end
    local b, e = byte(ms.p, p), byte(ms.p, p + 1)
    local cont = 1
    local s_end = ms.s_end
    s = s + 1
    while s < s_end do
        local c = byte(str, s)
        if c == e then
            cont = cont - 1
            if cont == 0 then return s + 1 end
        elseif c == b then
            cont = cont + 1
        end
        s = s + 1
    end
    return nil
end

local function max_expand(ms, s, p, ep)
    local i = 0
    while single_match(ms, s + i, p, ep) do i = i + 1 end
    while i >= 0 do
        local res = match(ms, s + i, ep + 1)
        if res then return res end
        i = i - 1
    end
    return nil
end

local function min_expand(ms, s, p, ep)
    while true do
        local res = match(ms, s, ep + 1)
        if res then return res end
        if single_match(ms, s, p, ep) then
            s = s + 1
        else
            return nil
        end
    end
end

local function start_capture(ms, s, p, what)
    local level = ms.level
    if level >= MAXCAPTURES then fail("too many captures") end
    ms.init[level + 1] = s
    ms.len[level + 1] = what
    ms.level = level + 1
    local res = match(ms, s, p)
    if res == nil then ms.level = ms.level - 1 end
    return res
end

local function capture_to_close(ms)
    for level = ms.level, 1, -1 do
        if ms.len[level] == CAP_UNFINISHED then return level end
    end
    fail("invalid pattern capture")
end

local function end_capture(ms, s, p)
    local l = capture_to_close(ms)
    ms.len[l] = s - ms.init[l]
    local res = match(ms, s, p)
    if res == nil then ms.len[l] = CAP_UNFINISHED end
    return res
end

local function check_capture(ms, l)
    l = l - 48 -- '1' is capture 1
    if l < 1 or l > ms.level or ms.len[l] == CAP_UNFINISHED then
        fail("invalid capture index %" .. tostring(l))
    end
    return l
end

local function match_capture(ms, s, l)
    l = check_capture(ms, l)
    local len = ms.len[l]
    if len >= 0 and ms.s_end - s >= len and sub(ms.s, ms.init[l], ms.init[l] + len - 1) ==
        sub(ms.s, s, s + len - 1) then
        return s + len
    end
    return nil
end

match = function(ms, s, p)
    ms.depth = ms.depth - 1
    if ms.depth < 0 then fail("pattern too complex") end
    local pat, p_end = ms.p, ms.p_end
    while true do
        if p == p_end then break end
        local pc = byte(pat, p)
        if pc == LPAREN then
            if byte(pat, p + 1) == RPAREN then
                s = start_capture(ms, s, p + 2, CAP_POSITION)
            else
                s = start_capture(ms, s, p + 1, CAP_UNFINISHED)
            end
            break
        elseif pc == RPAREN then
            s = end_capture(ms, s, p + 1)
            break
        elseif pc == DOLLAR and p + 1 == p_end then
            if s ~= ms.s_end then s = nil end
            break
        end
        local nc = byte(pat, p + 1)
        local default = true
        if pc == ESC then
            if nc == 98 then -- %b
                default = false
                s = match_balance(ms, s, p + 2)
                if s == nil then break end
                p = p + 4
            elseif nc == 102 then -- %f
                default = false
                p = p + 2
                if byte(pat, p) ~= LBRACKET then fail("missing '[' after '%f' in pattern") end
                local ep = class_end(ms, p)
                local previous = s == 1 and 0 or byte(ms.s, s - 1)
                local current = s < ms.s_end and byte(ms.s, s) or 0
                if not match_bracket_class(ms, previous, p, ep - 1)
                    and match_bracket_class(ms, current, p, ep - 1) then
                    p = ep
                else
                    s = nil
                    break
                end
            elseif nc ~= nil and nc >= 48 and nc <= 57 then -- %0-%9
                default = false
                s = match_capture(ms, s, nc)
                if s == nil then break end
                p = p + 2
            end
        end
        if default then
            local ep = class_end(ms, p)
            local epc = byte(pat, ep)
            if not single_match(ms, s, p, ep) then
                if epc == STAR or epc == QUESTION or epc == DASH then
                    p = ep + 1
                else
                    s = nil
                    break
                end
            elseif epc == QUESTION then
                local res = match(ms, s + 1, ep + 1)
                if res ~= nil then
                    s = res
                    break
                end
                p = ep + 1
            elseif epc == PLUS then
                s = max_expand(ms, s + 1, p, ep)
                break
            elseif epc == STAR then
                s = max_expand(ms, s, p, ep)
                break
            elseif epc == DASH then
                s = min_expand(ms, s, p, ep)
                break
            else
                s = s + 1
                p = ep
            end
        end
    end
    ms.depth = ms.depth + 1
    return s
end

local function new_state(s, p)
    return { s = s, s_end = #s + 1, p = p, p_end = #p + 1, level = 0, init = {}, len = {},
             depth = MAXCCALLS }
end

-- A capture as a Lua value: its text, or its position; capture 0 without captures is the match.
local function get_capture(ms, i, s, e)
    if i > ms.level then
        if i ~= 1 then fail("invalid capture index %" .. tostring(i)) end
        return sub(ms.s, s, e - 1)
    end
    local len = ms.len[i]
    if len == CAP_UNFINISHED then fail("unfinished capture") end
    if len == CAP_POSITION then return ms.init[i] end
    return sub(ms.s, ms.init[i], ms.init[i] + len - 1)
end

local function captures(ms, s, e, whole)
    local n = (ms.level == 0 and whole) and 1 or ms.level
    local out = {}
    for i = 1, n do out[i] = get_capture(ms, i, s, e) end
    return unpack(out, 1, n)
end

-- Positions like the C library: `init` already an integer (or nil), 1-based, negative from the end.
local function start_of(init, len)
    if init == nil or init == 0 then return 1 end
    if init > 0 then return init end
    if init < -len then return 1 end
    return len + init + 1
end

local function plain_find(s, p, init)
    local s_len, p_len = #s, #p
    if p_len == 0 then return init, init - 1 end
    local first = byte(p, 1)
    local last = s_len - p_len + 1
    for i = init, last do
        if byte(s, i) == first and sub(s, i, i + p_len - 1) == p then
            return i, i + p_len - 1
        end
    end
    return nil
end

local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"

local function find_aux(s, p, init, plain, find)
    local start = start_of(init, #s)
    if start > #s + 1 then return nil end
    if find and (plain or not C.find(p, SPECIALS)) then
        return plain_find(s, p, start)
    end
    local anchor = byte(p, 1) == CARET
    local ms = new_state(s, anchor and sub(p, 2) or p)
    local s1 = start
    repeat
        ms.level = 0
        local e = match(ms, s1, 1)
        if e ~= nil then
            if find then return s1, e - 1, captures(ms, nil, nil, false) end
            return captures(ms, s1, e, true)
        end
        s1 = s1 + 1
    until s1 > ms.s_end or anchor
    return nil
end

local M = {}

function M.find(s, p, init, plain)
    return find_aux(s, p, init, plain, true)
end

function M.match(s, p, init)
    return find_aux(s, p, init, false, false)
end

function M.gmatch(s, p, init)
    local start = start_of(init, #s)
    if start > #s + 1 then start = #s + 2 end
    local ms = new_state(s, p)
    local src, last = start, nil
    return function()
        while src <= ms.s_end do
            ms.level = 0
            local e = match(ms, src, 1)
            if e ~= nil and e ~= last then
                local from = src
                src, last = e, e
                return captures(ms, from, e, true)
            end
            src = src + 1
        end
        return nil
    end
end

-- The replacement of one match in gsub: (text, changed).
local function replacement(ms, s, e, repl, kind)
    local value
    if kind == "function" then
        value = repl(captures(ms, s, e, true))
    elseif kind == "table" then
        value = repl[get_capture(ms, 1, s, e)]
    else
        local text = tostring(repl)
        local out, i, n = {}, 1, #text
        while i <= n do
            local c = byte(text, i)
            if c == ESC then
                i = i + 1
                local d = byte(text, i)
                if d == ESC then
                    out[#out + 1] = "%"
                elseif d == 48 then
                    out[#out + 1] = sub(ms.s, s, e - 1)
                elseif d ~= nil and d >= 49 and d <= 57 then
                    out[#out + 1] = tostring(get_capture(ms, d - 48, s, e))
                else
                    fail("invalid use of '%' in replacement string")
                end
            else
                out[#out + 1] = char(c)
            end
            i = i + 1
        end
        return concat(out), true
    end
    if not value then return sub(ms.s, s, e - 1), false end
    local t = type(value)
    if t ~= "string" and t ~= "number" then
        fail("invalid replacement value (a " .. t .. ")")
    end
    return tostring(value), true
end

function M.gsub(s, p, repl, max_n)
    local kind = type(repl)
    local anchor = byte(p, 1) == CARET
    local ms = new_state(s, anchor and sub(p, 2) or p)
    max_n = max_n or #s + 1
    local out, src, last, n, changed = {}, 1, nil, 0, false
    while n < max_n do
        ms.level = 0
        local e = match(ms, src, 1)
        if e ~= nil and e ~= last then
            n = n + 1
            local text, did = replacement(ms, src, e, repl, kind)
            out[#out + 1] = text
            changed = changed or did
            src, last = e, e
        elseif src < ms.s_end then
            out[#out + 1] = sub(s, src, src)
            src = src + 1
        else
            break
        end
        if anchor then break end
    end
    if not changed then return s, n end
    out[#out + 1] = sub(s, src)
    return concat(out), n
end

return M
