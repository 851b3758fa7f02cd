local workflow = require("workflow")

return function(trip)
    return workflow.exec("app:trip", trip)
end
