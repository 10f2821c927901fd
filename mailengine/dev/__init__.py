"""What only `make run` and local trials need: made-up demo customers and orders (`demo`),
and the capture SMTP server that keeps every mail the engine sends as a file (`capture`).

It may import the shared vocabulary, `store` and `outbound`; nothing imports it but `cli`.
"""
