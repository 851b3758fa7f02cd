-- Updates over messages (B5b): nak a request that is too large, accept the next one.
return function()
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        local data = msg:payload():data()
        if data.amount > 100 then
            process.send(msg:from(), "nak", "amount too large")
        else
            process.send(msg:from(), "ack")
            process.send(msg:from(), "ok", {approved = data.amount, topic = msg:topic()})
            return {approved = data.amount}
        end
    end
end
