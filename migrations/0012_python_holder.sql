-- Which session-worker holds a python environment (its files, REPLs and processes): the one
-- that made it or last re-created it. Calls naming the environment are routed there while it
-- runs (issue 12, item 8); NULL for environments made before this column.
ALTER TABLE rm_python_envs ADD COLUMN IF NOT EXISTS holder TEXT;
