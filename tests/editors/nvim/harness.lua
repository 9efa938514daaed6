-- What the Neovim end-to-end scripts share: the result they write as JSON, named steps, waiting
-- for a condition, and running the test so that any error is written to the result file and
-- Neovim exits with :cquit (an uncaught error in a -u script leaves headless Neovim waiting).
-- Loaded with dofile from the scripts beside it.

local M = {}

function M.new(tag, default_timeout_ms)
  local t = {
    result = { ok = false, steps = {}, mode = os.getenv('INBATCH_NVIM_MODE') or 'lsp_enable' },
    TIMEOUT = tonumber(os.getenv('INBATCH_NVIM_TIMEOUT_MS') or tostring(default_timeout_ms)),
  }

  function t.step(name, data)
    table.insert(t.result.steps, name)
    if data ~= nil then
      t.result[name] = data
    end
    io.stderr:write(tag .. ': ' .. name .. '\n')
  end

  function t.wait_for(what, cond)
    local value
    local done = vim.wait(t.TIMEOUT, function()
      value = cond()
      return value ~= nil and value ~= false
    end, 50)
    if not done then
      error('timed out after ' .. t.TIMEOUT .. ' ms waiting for ' .. what, 2)
    end
    return value
  end

  local function write_result()
    local path = assert(os.getenv('INBATCH_NVIM_RESULT'), 'INBATCH_NVIM_RESULT not set')
    local f = assert(io.open(path, 'w'))
    f:write(vim.json.encode(t.result))
    f:close()
  end

  -- Runs `main`; `on_error(err)` may add to the result before it is written.
  function t.run(main, on_error)
    local ok, err = xpcall(main, debug.traceback)
    if not ok then
      t.result.ok = false
      t.result.error = tostring(err)
      if on_error then
        pcall(on_error, err)
      end
      io.stderr:write(tag .. ': FAILED: ' .. tostring(err) .. '\n')
    end
    local wrote = pcall(write_result)
    if ok and wrote then
      vim.cmd('qall!')
    else
      vim.cmd('cquit 1')
    end
  end

  return t
end

return M
