module tbdense

go 1.19
