-- Collects messages until "done"; reports topics, payloads, senders and its context.
local ctx = require("ctx")

return function(input)
    local inbox = process.inbox()
    local got = {}
    while true do
        local msg = inbox:receive()
        got[#got + 1] = {topic = msg:topic(), data = msg:payload() and msg:payload():data(),
                         from = msg:from()}
        if msg:topic() == "done" then break end
    end
    return {input = input, messages = got, request_id = (ctx.get("request_id"))}
end
