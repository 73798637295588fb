-- GET the live prompts of many agents in turn. The file named by BENCH_PATHS_FILE has one "<path> <token>" line
-- per agent: the path of its live prompt and the bearer token of a member of its organization. Every request is
-- built once, in init; each thread then cycles through them, from an offset of its own so that the threads do not
-- ask for the same agent at the same moment. No response() callback: wrk counts non-2xx/3xx answers itself.

local created = 0

function setup(thread)
   thread:set("index", created)
   created = created + 1
end

function init(args)
   local name = os.getenv("BENCH_PATHS_FILE")
   local file = assert(io.open(name, "r"), "cannot open BENCH_PATHS_FILE " .. tostring(name))
   requests = {}
   for line in file:lines() do
      local path, token = line:match("^(%S+) (%S+)$")
      if path then
         requests[#requests + 1] = wrk.format("GET", path, { Authorization = "Bearer " .. token })
      end
   end
   file:close()
   assert(#requests > 0, "no '<path> <token>' lines in BENCH_PATHS_FILE " .. name)
   counter = math.floor(#requests * ((index or 0) * 0.6180339887 % 1))
end

function request()
   counter = counter % #requests + 1
   return requests[counter]
end
