"""The site's Secure Boot key: generating and checking it, signing kernels with it."""
