-- Every bench run of wrk: done() prints one JSON line (times in µs) for bench/wrk.py. With BENCH_PATHS_FILE, each
-- thread GETs its "<path> <token>" lines in turn, from an offset of its own ((b2)); with BENCH_BODY_FILE, every
-- request POSTs that file and the responses are counted by status ((d)).

local paths_file, body_file = os.getenv("BENCH_PATHS_FILE"), os.getenv("BENCH_BODY_FILE")
local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

function init(args)
   statuses = {}
   if body_file then
      local file = assert(io.open(body_file, "rb"))
      wrk.method, wrk.body = "POST", file:read("*a")
      wrk.headers["Content-Type"] = "application/json"
      file:close()
   end
   if paths_file then
      requests = {}
      for line in io.lines(paths_file) do
         local path, token = line:match("^(%S+) (%S+)$")
         requests[#requests + 1] = wrk.format("GET", path, { Authorization = "Bearer " .. token })
      end
      counter = math.floor(#requests * (index * 0.6180339887 % 1))
   end
end

if paths_file then
   function request()
      counter = counter % #requests + 1
      return requests[counter]
   end
end

if body_file then
   function response(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
   end
end

function done(summary, latency, requests)
   local sums, counts = {}, {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         sums[status] = (sums[status] or 0) + count
      end
   end
   for status, count in pairs(sums) do
      counts[#counts + 1] = string.format('"%d":%d', status, count)
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
      '"timeout":%d,"status":%d},"statuses":{%s}}\n', summary.requests, summary.duration, latency:percentile(50),
      latency:percentile(99), e.connect, e.read, e.write, e.timeout, e.status, table.concat(counts, ",")))
end
