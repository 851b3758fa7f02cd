return function()
    local ev = process.events():receive()
    return {cancelled = ev.kind == process.event.CANCEL}
end
