local funcs = require("funcs")
return function()
    local plain = funcs.call("app:whoami")
    local tagged = funcs.new():with_context({tenant = "t1"}):call("app:whoami")
    return {plain = plain, tagged = tagged}
end
