-- The CPU time the worker process spent on an attempt's job (user + system, every thread of
-- the process, from getrusage): what a job kind costs, apart from the wall time it happened to
-- share with other work. Written by the worker under the lease when the attempt ends; NULL for
-- attempts that ran nothing (memoized, lost before the job started) and for older attempts.
ALTER TABLE attempts ADD COLUMN cpu_seconds DOUBLE PRECISION;
