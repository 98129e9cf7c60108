module example.com/echo-go

go 1.24
