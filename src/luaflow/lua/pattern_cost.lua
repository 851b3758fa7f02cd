-- The cost model of Lua patterns: which calls C may run (their worst case is cheap and C cannot
-- raise an error for them) and how many steps they may take. Compiled on a state's first pattern
-- call; the matcher in luaflow/pattern.lua only when a call is too expensive for C.
local C = ... -- the C string functions (the library's are the prelude's bounded wrappers)
local byte = C.byte
local type, tonumber = type, tonumber
local int_type = math.type

local MAXCCALLS = 200
local MAXCAPTURES = 32
local ESC, LBRACKET, RBRACKET, CARET, DOLLAR = 37, 91, 93, 94, 36
local LPAREN, RPAREN, DASH = 40, 41, 45
local STAR, PLUS, QUESTION = 42, 43, 63

local M = {}

-- The cost model. The worst case of one match attempt grows as n^k / k! for k backtracking
-- items (quantifiers followed by more pattern, %b) and doubles per `?`; unanchored calls try
-- n + 1 positions. C may run a call of up to C_LIMIT steps (~10 ns each).
local C_LIMIT = 2e7

-- Index after the set starting at the '[' at i (C's classend), or nil when unterminated.
local function set_end(p, i, n)
    i = i + 1
    if byte(p, i) == CARET then i = i + 1 end
    repeat
        if i > n then return nil end
        local c = byte(p, i)
        i = i + 1
        if c == ESC and i <= n then i = i + 1 end
    until byte(p, i) == RBRACKET
    return i + 1
end

-- What the cost of a pattern depends on, or false when C could raise an error for it
-- (malformed, back-references, bad captures, recursion deeper than C allows).
local function analyse(p)
    local n = #p
    local anchored = byte(p, 1) == CARET
    local i = anchored and 2 or 1
    local items, loops, scans, options, captures, open = 0, 0, 0, 0, 0, 0
    local after_loop = nil  -- index after the last *, + or - quantifier
    while i <= n do
        local c = byte(p, i)
        local j = nil
        if c == LPAREN then
            captures = captures + 1
            if byte(p, i + 1) == RPAREN then
                i = i + 2
            else
                open = open + 1
                i = i + 1
            end
        elseif c == RPAREN then
            if open == 0 then return false end
            open = open - 1
            i = i + 1
        elseif c == DOLLAR and i == n then
            i = i + 1
        elseif c == ESC then
            local d = byte(p, i + 1)
            if d == nil or (d >= 48 and d <= 57) then return false end
            if d == 98 then -- %b
                if i + 3 > n then return false end
                items, scans, i = items + 1, scans + 1, i + 4
            elseif d == 102 then -- %f
                if byte(p, i + 2) ~= LBRACKET then return false end
                i = set_end(p, i + 2, n)
                if i == nil then return false end
                items = items + 1
            else
                j = i + 2
            end
        elseif c == LBRACKET then
            j = set_end(p, i, n)
            if j == nil then return false end
        else
            j = i + 1
        end
        if j ~= nil then
            items = items + 1
            local q = byte(p, j)
            if q == STAR or q == PLUS or q == DASH then
                loops, j = loops + 1, j + 1
                after_loop = j
            elseif q == QUESTION then
                options, j = options + 1, j + 1
            end
            i = j
        end
    end
    if open ~= 0 or captures > MAXCAPTURES or loops + options + 2 * captures > MAXCCALLS - 20 then
        return false
    end
    if after_loop ~= nil and not C.find(p, "[^)]", after_loop) then
        loops = loops - 1  -- only capture ends follow it: it never backtracks
    end
    return { items = items + 1, k = loops + scans, options = options, captures = captures,
             anchored = anchored }
end

local shapes, shape_count = {}, 0
local function shape_of(p)
    local shape = shapes[p]
    if shape == nil then
        shape = analyse(p)
        if #p <= 256 then
            if shape_count >= 512 then shapes, shape_count = {}, 0 end
            shapes[p], shape_count = shape, shape_count + 1
        end
    end
    return shape
end

-- A replacement string C accepts for a pattern with `captures` captures.
local function replacement_ok(repl, captures)
    for d in C.gmatch(repl, "%%(.?)") do
        if d ~= "%" and d ~= "0" then
            local index = tonumber(d)
            if index == nil or int_type(index) ~= "integer" or index > (captures > 0 and captures or 1) then
                return false
            end
        end
    end
    return true
end

-- Worst-case steps of pattern p over a subject of length n when C may run it (C could not raise
-- an error for it, nor for `repl` in gsub), else nil. `anchors`: a leading ^ anchors the call.
function M.cheap(p, n, anchors, repl)
    local sh = shape_of(p)
    if not sh or (repl ~= nil and not replacement_ok(repl, sh.captures)) then return nil end
    local cost = ((sh.anchored and anchors) and 1 or n + 1) * sh.items
    for k = 1, sh.k do
        cost = cost * n / k
        if cost > C_LIMIT then return nil end
    end
    for _ = 1, sh.options do
        cost = cost * 2
        if cost > C_LIMIT then return nil end
    end
    if cost > C_LIMIT then return nil end
    return cost
end

-- A function or table replacement for C's gsub, whose results are checked before C sees them
-- (so that its error reads at the caller's line: `raise`).
function M.checked(repl, kind, raise)
    return function(...)
        local value
        if kind == "table" then value = repl[(...)] else value = repl(...) end
        if value and type(value) ~= "string" and type(value) ~= "number" then
            raise("invalid replacement value (a " .. type(value) .. ")")
        end
        return value
    end
end

return M
