-- Error values' methods and the `errors` module (SPEC 2.8), loaded by the prelude on first use.
-- The prelude passes its own error machinery: the kinds, the constructor, field access, the
-- type test, the frame capture and the raw `error`.
local KINDS, make_error, fields, is_error, capture_frames, raw_error = ...
local type, rawget, tostring = type, rawget, tostring
local Methods = {}

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

function Methods:kind() return self_fields(self, "kind").kind end
function Methods:message() return self_fields(self, "message").message end
function Methods:retryable() return self_fields(self, "retryable").retryable end
function Methods:details() return copy_details(self_fields(self, "details").details) end
function Methods:cause() return self_fields(self, "cause").cause end
function Methods:stack()
    local f = self_fields(self, "stack")
    local lines = { error_text(self) }
    for _, fr in ipairs(f.frames) do
        lines[#lines + 1] = "  " .. fr.source .. ":" .. tostring(fr.line) ..
            (fr.name ~= "" and (" (" .. fr.name .. ")") or "")
    end
    return table.concat(lines, "\n")
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

return Methods, errors_impl
