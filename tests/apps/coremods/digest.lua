-- Pure modules give the same values in a workflow and in host code.
local hash, base64, crypto, json, logger =
    require("hash"), require("base64"), require("crypto"), require("json"), require("logger")

local function compute(input)
    logger:info("computing", { size = #input.text })
    local key = string.rep("k", 32)
    local sealed = crypto.encrypt.aes(input.text, key)
    return {
        sha256 = hash.sha256(input.text),
        fnv32 = hash.fnv32(input.text),
        b64 = base64.encode(input.text),
        hmac = crypto.hmac.sha256("secret", input.text),
        json = json.encode({ text = input.text, list = { 1, 2, 3 } }),
        valid = json.validate({ type = "object", required = { "text" } }, input),
        opened = crypto.decrypt.aes(sealed, key),
        token = crypto.jwt.encode({ sub = input.text, exp = 1700000000 }, "secret"),
    }
end

local function workflow(input)
    local here = compute(input)
    local there, err = require("funcs").call("app:compute", input)
    if err then return nil, err end
    return { here = here, there = there }
end

return { compute = compute, workflow = workflow }
