"""A minimal Django app for the fix-execution harness (configured by `harness_django`)."""
