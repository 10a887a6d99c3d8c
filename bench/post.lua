-- POSTs BODY as JSON to the URL wrk was given.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
