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
  -- No init_options by default: an empty Lua table would be sent as a JSON array `[]`. Set them with
  -- vim.lsp.config (`batchSize`, `select`, `ignore`, `inlayHints`, `diagnosticMode`, ...); the server
  -- also reads `[tool.inbatch]` from pyproject.toml / inbatch.toml.
}
