-- In-flight memoization. From this migration on, a running job's `memo_key` is the key of the work
-- its current attempt is doing: the claim clears it and the worker declares it (JobStore
-- `declareMemoKey`) before running the kind. A job about to do the same work while such a job
-- holds a live lease goes back to the queue keeping that key, and is not claimed again until no
-- live running job has it; then it reuses the finished job's outputs, or runs itself. Succeeded
-- jobs keep meaning what they did: the key their outputs are recorded under.
CREATE INDEX jobs_running_by_memo_key ON jobs(memo_key) WHERE state = 'running';
