// Package crmsim is a simulated Zoho CRM server: a test double for the
// network that answers the way Zoho does, including its limits.
//
// It is deliberately independent of the zohoquota package (it does not import
// it): it models the server, not the client, so a client that paces itself
// correctly must never see a 429 from it, and a client that does not must.
//
// Two API generations are simulated, one per Server (Config.API):
//
// V8 (the current API, /crm/v{N}/...):
//
//   - Auth: "Authorization: Zoho-oauthtoken <token>". Missing or malformed:
//     HTTP 401 {"code":"AUTHENTICATION_FAILURE","details":{},...}. Any token
//     is accepted; the token identifies the user+OAuth client for concurrency.
//   - GET /crm/v8/{Module}: fields (mandatory, as in v8: missing answers 400
//     REQUIRED_PARAM_MISSING unless Config.FieldsOptional), per_page (1..200,
//     else 400 INVALID_DATA), page, page_token, sort_by (id, Created_Time,
//     Modified_Time), sort_order (default desc), ids, cvid (costs 3 credits,
//     no filtering). page*per_page beyond the first 2,000 records answers 400
//     DISCRETE_PAGINATION_LIMIT_EXCEEDED {"limit":2000}; page together with
//     page_token answers 400 AMBIGUITY_DURING_PROCESSING. Every page with
//     more_records=true carries info.next_page_token (a cursor valid 24 h,
//     then 400 EXPIRED_VALUE; bound to the query, else 400
//     TOKEN_BOUND_DATA_MISMATCH; 100,000 records at most, then 400
//     PAGINATION_LIMIT_EXCEEDED). No record to show: 204 No Content.
//   - POST /crm/v8/{Module} (insert), PUT /crm/v8/{Module} (update, records
//     need "id"), POST /crm/v8/{Module}/upsert, DELETE /crm/v8/{Module}?ids=.
//     More than 100 records (or ids): 400 LIMIT_EXCEEDED
//     {"limit":100,...} at top level, nothing processed. Per-record results
//     come in {"data":[...]} in input order. Status: every record succeeded:
//     201 for insert, 200 for update/upsert/delete; some failed: 207
//     Multi-Status; all failed: 400 with the same per-record "data" array
//     (that is what Zoho's own OpenAPI description of the Records API
//     documents for the all-failed case).
//   - Validation per record: Leads and Contacts need Last_Name, Accounts
//     Account_Name, Deals Deal_Name (MANDATORY_NOT_FOUND with api_name and
//     json_path); Email and Secondary_Email must pass Zoho's documented email
//     pattern (INVALID_DATA with api_name Email). See ValidEmail.
//   - Credits: 1 per call; insert/update/upsert 1 per 10 records (ceil, min 1);
//     Get Records with cvid 3; request-level errors 1. Rolling 24 hours:
//     credits spent at T are usable again at T+24h (never at midnight). They
//     are kept in per-minute buckets; a bucket frees 24 h after the last
//     charge that went into it, so a credit is never freed early. A call that
//     does not fit (used+cost > CreditLimit) is answered 429
//     {"code":"TOO_MANY_REQUESTS","details":{},...}, not processed, not
//     charged. X-API-CREDITS-REMAINING is sent on every authenticated answer
//     once 50% or more of CreditLimit is used.
//   - Concurrency: more than Config.Concurrency calls in flight for one token
//     answers 429 TOO_MANY_REQUESTS at once (no queueing). "Complex" calls
//     (insert/update/upsert of more than 10 records, Get Records with sort_by
//     or cvid) also need one of SubConcurrency slots (default 10).
//
// V1 (the legacy API, /crm/private/json/{Module}/{method}):
//
//   - Auth: authtoken query or form parameter. V1 reported every error in the
//     body with HTTP 200, and so does the simulator: missing authtoken is
//     {"response":{"error":{"code":"4834","message":"Invalid Ticket Id"},...}}.
//   - getRecords: fromIndex (default 1), toIndex (default 20), at most 200
//     records a request (more: error 4600). Nothing to show: "nodata" 4422.
//   - insertRecords: xmlData (query or form) holding
//     <Leads><row no="1"><FL val="Last Name">Smith</FL>...</row></Leads>, at
//     most 100 rows (more: error 4600). Field labels map to API names by
//     spaces<->underscores ("Last Name" <-> Last_Name). Default response: all
//     rows valid -> "Record(s) added successfully"; any invalid row -> error
//     4401 and nothing inserted. With version=4: per-row results
//     (success code 2000, error code 4401).
//   - Like the real v1 JSON (converted from XML), a list holding exactly one
//     element (row, recorddetail) is rendered as an object, not an array.
//   - Every authenticated request admitted costs 1 unit of Config.DailyLimit.
//     The count resets at 00:00 in Config.Zone (default fixed UTC-8 "PST").
//     Over the cap: HTTP 200 with error code "4820" (a string), not processed,
//     not counted. Concurrency is not enforced on V1 (it had no such limit),
//     but in-flight maxima are still recorded.
//
// Each admitted call holds its slot for Config.Latency (time.Sleep semantics,
// so testing/synctest fake time applies) and releases it just before the
// answer is written, so a client that waits for an answer before reusing its
// slot can never be refused by a race.
package crmsim
