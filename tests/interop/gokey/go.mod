module fedca/gokey

go 1.19
