"""Pure helpers: metrics, data locations and downloads, system facts."""
