module secretgate.dev/e2e/labeler

go 1.26
