-- Order types with validators; other modules get them from this table.
type Sku = string @min_len(3) @pattern("^[A-Z]+-[0-9]+$")

type Line = {
    sku: Sku,
    qty: integer @min(1) @max(100),
    note?: string,
}

type Order = {
    id: string @min_len(1),
    customer: string,
    lines: {Line} @min_len(1),
    priority?: "normal" | "rush",
}

type Priced = {total: number, currency: string}

return { Order = Order, Line = Line, Priced = Priced }
