module fedca/goverify

go 1.19
