"""doit: task creators (dodo.py imports them), their actions and the one error guard."""
