-- Every bench run of wrk: done() prints one JSON line (times in µs) for bench/wrk.py. With BENCH_PATHS_FILE, each
-- thread GETs its "<path> <token>" lines in turn, from an offset of its own ((b2)); with BENCH_BODY_FILE, every
-- request POSTs that file and the responses are counted by status, per thread too ((d)); with both, thread n POSTs
-- to line n only, with its token: run one connection per thread, and each connection writes to its own path ((d2)).

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
         local headers = { Authorization = "Bearer " .. token }
         if body_file then
            headers["Content-Type"] = "application/json"
         end
         requests[#requests + 1] = wrk.format(wrk.method, path, headers, wrk.body)
      end
      if body_file then
         assert(index < #requests, "BENCH_PATHS_FILE with BENCH_BODY_FILE: fewer lines than threads")
         requests = { requests[index + 1] }
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

local function counted(by_status)
   local counts = {}
   for status, count in pairs(by_status) do
      counts[#counts + 1] = string.format('"%d":%d', status, count)
   end
   return "{" .. table.concat(counts, ",") .. "}"
end

function done(summary, latency, requests)
   local sums, per_thread = {}, {}
   for _, thread in ipairs(threads) do
      local counts = thread:get("statuses")
      for status, count in pairs(counts) do
         sums[status] = (sums[status] or 0) + count
      end
      per_thread[#per_thread + 1] = counted(counts)
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,"errors":{"connect":%d,"read":%d,' ..
      '"write":%d,"timeout":%d,"status":%d},"statuses":%s,"thread_statuses":[%s]}\n', summary.requests,
      summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write,
      e.timeout, e.status, counted(sums), table.concat(per_thread, ",")))
end
