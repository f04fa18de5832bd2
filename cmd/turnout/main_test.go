package main

import (
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
