"""Farm jobs: Open Job Description templates, local and Dask runners."""
