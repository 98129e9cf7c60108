module wasmsock.example/echo-go

go 1.24
