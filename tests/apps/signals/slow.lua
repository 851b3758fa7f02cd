local time = require("time")
return function(seconds)
    time.sleep(seconds * time.SECOND)
    return "slept"
end
