"""Will this kernel mount its root over NFS with that entry? Facts, rules, verdicts, reports."""
