package eventlog

// RetailrocketColumns are the columns of the Retailrocket events.csv:
// timestamp (Unix milliseconds), visitorid, event (view, addtocart,
// transaction), itemid; the transactionid column is ignored.
var RetailrocketColumns = Columns{Timestamp: "timestamp", User: "visitorid", Item: "itemid", Event: "event"}
