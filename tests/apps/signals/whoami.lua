local ctx = require("ctx")
return function()
    local tenant, err = ctx.get("tenant")
    if err then return {missing = err:kind()} end
    return {tenant = tenant, all = ctx.all()}
end
