-- The `http` module of HTTP handlers (SPEC 4): the request being served and its response.
-- Request data comes from the server; response calls go straight to it.
local bridge = ...
local req_data = bridge.request  -- {method, path, params, query, headers, body, host, remote}
local json = bridge.json

local http = {
    METHOD = { GET = "GET", POST = "POST", PUT = "PUT", PATCH = "PATCH", DELETE = "DELETE",
               HEAD = "HEAD", OPTIONS = "OPTIONS", TRACE = "TRACE" },
    STATUS = { OK = 200, CREATED = 201, ACCEPTED = 202, NO_CONTENT = 204,
               MOVED_PERMANENTLY = 301, FOUND = 302, NOT_MODIFIED = 304,
               BAD_REQUEST = 400, UNAUTHORIZED = 401, FORBIDDEN = 403, NOT_FOUND = 404,
               METHOD_NOT_ALLOWED = 405, CONFLICT = 409, UNPROCESSABLE = 422,
               TOO_MANY_REQUESTS = 429, INTERNAL_ERROR = 500, INTERNAL_SERVER_ERROR = 500,
               NOT_IMPLEMENTED = 501, BAD_GATEWAY = 502, SERVICE_UNAVAILABLE = 503 },
    CONTENT = { JSON = "application/json", FORM = "application/x-www-form-urlencoded",
                MULTIPART = "multipart/form-data", TEXT = "text/plain",
                STREAM = "application/octet-stream" },
    TRANSFER = { CHUNKED = "chunked", SSE = "sse" },
    ERROR = { PARSE_FAILED = "PARSE_FAILED", INVALID_STATE = "INVALID_STATE",
              WRITE_FAILED = "WRITE_FAILED", STREAM_ERROR = "STREAM_ERROR" },
}

local function invalid(message)
    return errors.new({ kind = errors.INVALID, message = message, retryable = false })
end

local Request = { __name = "http.Request" }
Request.__index = Request

function Request:method() return req_data.method end
function Request:path() return req_data.path end
function Request:param(name) return req_data.params[name] end
function Request:params() return req_data.params end
function Request:query(name)
    local values = req_data.query[name]
    return values and values[1]
end
function Request:query_params()
    local out = {}
    for k, values in pairs(req_data.query) do out[k] = table.concat(values, ",") end
    return out
end
function Request:header(name) return req_data.headers[string.lower(name)] end
function Request:body() return req_data.body end
function Request:has_body() return #req_data.body > 0 end
function Request:content_type() return req_data.headers["content-type"] end
function Request:content_length() return #req_data.body end
function Request:host() return req_data.host end
function Request:remote_addr() return req_data.remote end
function Request:is_content_type(kind)
    local ct = req_data.headers["content-type"] or ""
    return ct:sub(1, #kind) == kind
end
function Request:accepts(kind)
    local accept = req_data.headers["accept"] or "*/*"
    return accept:find(kind, 1, true) ~= nil or accept:find("*/*", 1, true) ~= nil
end
function Request:body_json()
    if #req_data.body == 0 then return nil, invalid("request has no body") end
    local value, err = json.decode(req_data.body)
    if err then return nil, invalid("invalid JSON body: " .. err:message()) end
    return value, nil
end

function http.request(options)
    local limit = type(options) == "table" and options.max_body or nil
    if limit ~= nil and #req_data.body > limit then
        return nil, invalid("request body exceeds " .. tostring(limit) .. " bytes")
    end
    return setmetatable({}, Request), nil
end

local Response = { __name = "http.Response" }
Response.__index = Response

function Response:set_status(code)
    if math.type(code) ~= "integer" or code < 200 or code > 599 then
        return nil, invalid("invalid HTTP status " .. tostring(code))
    end
    bridge.set_status(code)
    return true
end
-- A header that would corrupt the response (CR/LF, a bad name, framing) is `nil, err`.
function Response:set_header(name, value)
    local problem = bridge.set_header(tostring(name), tostring(value))
    if problem then return nil, invalid(problem) end
    return true
end
function Response:set_content_type(kind) return self:set_header("content-type", kind) end
function Response:write(data) bridge.write(tostring(data)) return true end
function Response:write_json(value)
    local text, err = json.encode(value)
    if err then return nil, err end
    bridge.set_default_header("content-type", "application/json")
    bridge.write(text)
    return true
end
function Response:set_transfer() return true end
function Response:flush() return true end

-- Seed-era chaining (R21): res:status(500):json({...}).
function Response:status(code)
    local ok, err = self:set_status(code)
    if not ok then error(err, 2) end
    return self
end
function Response:json(value)
    local ok, err = self:write_json(value)
    if not ok then error(err, 2) end
    return self
end

local response = setmetatable({}, Response)
function http.response() return response, nil end

return http
