-- POST one blueprint per request, the body read once from the file named by BENCH_BODY_FILE; the bearer token
-- comes from wrk's -H option. Every thread counts the responses by status, and done() prints the counts as
-- "status <code> <count>" lines (one per thread and status) for bench/wrk.py to add up.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = os.getenv("BENCH_BODY_FILE")
   local file = assert(io.open(path, "rb"), "cannot open BENCH_BODY_FILE " .. tostring(path))
   wrk.body = file:read("*a")
   file:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   statuses = {}
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
         io.write(string.format("status %d %d\n", status, count))
      end
   end
end
