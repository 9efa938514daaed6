-- inbatch language server for Neovim 0.11+ (`:help lsp-config`).
--
-- With this plugin on the runtimepath, enable it with:
--
--   vim.lsp.enable('inbatch')
--
-- and override any field with vim.lsp.config, e.g.:
--
--   vim.lsp.config('inbatch', {
--     cmd = { '/path/to/inbatch', 'server' },
--     init_options = { batchSize = 500 },
--   })
--
-- This file is self-contained: it can also be copied to `~/.config/nvim/lsp/inbatch.lua`.
return {
  cmd = { 'inbatch', 'server' },
  filetypes = { 'python' },
  root_markers = { 'pyproject.toml', 'inbatch.toml', 'setup.cfg', 'setup.py', '.git' },
  -- initializationOptions: `batchSize` (chunk size of batched fixes).
  init_options = {},
  -- Sent with workspace/didChangeConfiguration; the server reads `[tool.inbatch]` from pyproject.toml.
  settings = {},
}
