-- Go's number formatting and hyperbolic functions (what Wippy runs). The prelude loads this
-- chunk the first time a state formats a float that is not integral or calls math.sinh,
-- math.cosh or math.tanh: most runs do neither.
local C, str_format, tonumber, math_abs, math_exp, huge = ...
local M = {}

-- Go's math.Sinh, math.Cosh and math.Tanh (what Wippy runs): exact near zero, where
-- (e^x - e^-x) / 2 would cancel.
function M.sinh(x)
    local a = math_abs(x)
    local r
    if a > 21 then
        r = math_exp(a) * 0.5
    elseif a > 0.5 then
        local ex = math_exp(a)
        r = (ex - 1 / ex) * 0.5
    else
        local sq = a * a
        r = (((-0.2630563213397497062819489e+2 * sq - 0.2894211355989563807284660366e+4) * sq
            - 0.8991272022039509355398013511e+5) * sq - 0.6307673640497716991184787251e+6) * a
        r = r / (((sq - 0.173678953558233699533450911e+3) * sq + 0.1521517378790019070696485176e+5)
            * sq - 0.6307673640497716991212077277e+6)
    end
    if x < 0 then return -r end
    return r
end

function M.cosh(x)
    local a = math_abs(x)
    if a > 21 then return math_exp(a) * 0.5 end
    local ex = math_exp(a)
    return (ex + 1 / ex) * 0.5
end

function M.tanh(x)
    local z = math_abs(x)
    if z > 0.5 * 8.8029691931113054295988e+01 then
        if x < 0 then return -1.0 end
        return 1.0
    elseif z >= 0.625 then
        local s = math_exp(2 * z)
        z = 1 - 2 / (s + 1)
        if x < 0 then return -z end
        return z
    elseif x == 0 then
        return x
    end
    local s = x * x
    return x + x * s * ((-9.64399179425052238628e-1 * s - 9.92877231001918586564e1) * s
        - 1.61468768441708447952e3) / (((s + 1.12811678491632931402e2) * s
        + 2.23548839060100448583e3) * s + 4.84406305325125486048e3)
end

-- Go's strconv.FormatFloat(x, 'g' or 'f' when `fixed`, -1, 64): the shortest digits that read
-- back as x (Lua's %.14g rounds, %.17g over-prints), laid out the way Go lays them out.
function M.go_float(x, fixed)
    if x ~= x then return "NaN" end
    if x == huge then return "+Inf" end
    if x == -huge then return "-Inf" end
    if x == 0 then return (1 / x < 0) and "-0" or "0" end
    local s
    for digits = 14, 16 do
        s = str_format("%." .. digits .. "e", x)
        if tonumber(s) == x then break end
    end
    local sign, first, rest, e = C.match(s, "^(-?)(%d)%.(%d*)e([-+]%d+)$")
    local mantissa = C.gsub(first .. rest, "0+$", "")
    e = tonumber(e)
    local n = #mantissa
    if not fixed and (e < -4 or e >= 6) then
        local m = n > 1 and (mantissa:sub(1, 1) .. "." .. mantissa:sub(2)) or mantissa
        return sign .. m .. (e < 0 and "e-" or "e+") .. str_format("%02d", math_abs(e))
    end
    if e < 0 then return sign .. "0." .. C.rep("0", -e - 1) .. mantissa end
    if n <= e + 1 then return sign .. mantissa .. C.rep("0", e + 1 - n) end
    return sign .. mantissa:sub(1, e + 1) .. "." .. mantissa:sub(e + 2)
end

return M
